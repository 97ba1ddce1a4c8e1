// The LLVM IR (LLVM 14, typed pointers) of TIDE's wasm SIMD kernels; see generate.mjs.
// Written allocation-free and call-free: the module imports only the linear memory it works in.

const R = 4; // rows of a register tile
const V = 2; // f32x4 vectors of a register tile's row (8 columns)

/** The register tile `rows × 8` of `bmm`'s inner loop, as IR lines; `tile` names its labels. */
function tile(rows, t) {
  const L = [];
  const accs = [];
  for (let r = 0; r < rows; r++) for (let v = 0; v < V; v++) accs.push(`%${t}.acc${r}.${v}`);
  L.push(`  br label %${t}.loop`);
  L.push(`${t}.loop:`);
  L.push(`  %${t}.kk = phi i32 [0, %${t}.entry], [%${t}.kk1, %${t}.body]`);
  for (const a of accs) L.push(`  ${a} = phi <4 x float> [zeroinitializer, %${t}.entry], [${a}.n, %${t}.body]`);
  L.push(`  %${t}.more = icmp slt i32 %${t}.kk, %k`);
  L.push(`  br i1 %${t}.more, label %${t}.body, label %${t}.store`);
  L.push(`${t}.body:`);
  L.push(`  %${t}.pk = shl i32 %${t}.kk, 3`);
  for (let v = 0; v < V; v++) {
    L.push(`  %${t}.po${v} = add i32 %${t}.pk, ${4 * v}`);
    L.push(`  %${t}.pp${v} = getelementptr inbounds float, float* %panel, i32 %${t}.po${v}`);
    L.push(`  %${t}.pv${v} = bitcast float* %${t}.pp${v} to <4 x float>*`);
    L.push(`  %${t}.b${v} = load <4 x float>, <4 x float>* %${t}.pv${v}, align 4`);
  }
  L.push(`  %${t}.ak = mul i32 %${t}.kk, %sak`);
  for (let r = 0; r < rows; r++) {
    L.push(`  %${t}.ao${r} = add i32 %${t}.arow${r}, %${t}.ak`);
    L.push(`  %${t}.ap${r} = getelementptr inbounds float, float* %abase, i32 %${t}.ao${r}`);
    L.push(`  %${t}.as${r} = load float, float* %${t}.ap${r}, align 4`);
    L.push(`  %${t}.ai${r} = insertelement <4 x float> undef, float %${t}.as${r}, i32 0`);
    L.push(`  %${t}.av${r} = shufflevector <4 x float> %${t}.ai${r}, <4 x float> undef, <4 x i32> zeroinitializer`);
    for (let v = 0; v < V; v++) {
      L.push(`  %${t}.m${r}.${v} = fmul <4 x float> %${t}.av${r}, %${t}.b${v}`);
      L.push(`  %${t}.acc${r}.${v}.n = fadd <4 x float> %${t}.acc${r}.${v}, %${t}.m${r}.${v}`);
    }
  }
  L.push(`  %${t}.kk1 = add i32 %${t}.kk, 1`);
  L.push(`  br label %${t}.loop`);
  // Store: whole vectors when the 8 columns are inside the output, else lane by lane through the scratch tail.
  L.push(`${t}.store:`);
  L.push(`  br i1 %full, label %${t}.whole, label %${t}.part`);
  L.push(`${t}.whole:`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < V; v++) {
      L.push(`  %${t}.co${r}.${v} = add i32 %${t}.crow${r}, ${4 * v}`);
      L.push(`  %${t}.cp${r}.${v} = getelementptr inbounds float, float* %cbase, i32 %${t}.co${r}.${v}`);
      L.push(`  %${t}.cv${r}.${v} = bitcast float* %${t}.cp${r}.${v} to <4 x float>*`);
      L.push(`  store <4 x float> %${t}.acc${r}.${v}, <4 x float>* %${t}.cv${r}.${v}, align 4`);
    }
  }
  L.push(`  br label %${t}.exit`);
  L.push(`${t}.part:`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < V; v++) {
      L.push(`  %${t}.tp${r}.${v} = getelementptr inbounds float, float* %tail, i32 ${r * 8 + 4 * v}`);
      L.push(`  %${t}.tv${r}.${v} = bitcast float* %${t}.tp${r}.${v} to <4 x float>*`);
      L.push(`  store <4 x float> %${t}.acc${r}.${v}, <4 x float>* %${t}.tv${r}.${v}, align 4`);
    }
  }
  L.push(`  br label %${t}.copy`);
  L.push(`${t}.copy:`);
  L.push(`  %${t}.l = phi i32 [0, %${t}.part], [%${t}.l1, %${t}.copybody]`);
  L.push(`  %${t}.lmore = icmp slt i32 %${t}.l, %ncols`);
  L.push(`  br i1 %${t}.lmore, label %${t}.copybody, label %${t}.exit`);
  L.push(`${t}.copybody:`);
  for (let r = 0; r < rows; r++) {
    L.push(`  %${t}.so${r} = add i32 %${t}.l, ${r * 8}`);
    L.push(`  %${t}.sp${r} = getelementptr inbounds float, float* %tail, i32 %${t}.so${r}`);
    L.push(`  %${t}.sv${r} = load float, float* %${t}.sp${r}, align 4`);
    L.push(`  %${t}.do${r} = add i32 %${t}.crow${r}, %${t}.l`);
    L.push(`  %${t}.dp${r} = getelementptr inbounds float, float* %cbase, i32 %${t}.do${r}`);
    L.push(`  store float %${t}.sv${r}, float* %${t}.dp${r}, align 4`);
  }
  L.push(`  %${t}.l1 = add i32 %${t}.l, 1`);
  L.push(`  br label %${t}.copy`);
  return L;
}

/** Row offsets of a tile starting at row `%i` (`%<t>.arow<r>` into a, `%<t>.crow<r>` into c). */
function rowOffsets(rows, t) {
  const L = [];
  for (let r = 0; r < rows; r++) {
    L.push(`  %${t}.i${r} = add i32 %${t}.i, ${r}`);
    L.push(`  %${t}.arow${r} = mul i32 %${t}.i${r}, %sai`);
    L.push(`  %${t}.crow0${r} = mul i32 %${t}.i${r}, %n`);
    L.push(`  %${t}.crow${r} = add i32 %${t}.crow0${r}, %j0`);
  }
  return L;
}

export function kernelsIR() {
  const L = [];
  L.push('target triple = "wasm32-unknown-unknown"', '');
  L.push('declare <4 x float> @llvm.wasm.pmax.v4f32(<4 x float>, <4 x float>)');
  L.push('declare <4 x float> @llvm.fabs.v4f32(<4 x float>)');
  L.push('declare float @llvm.sqrt.f32(float)');
  L.push('');
  // ---------------------------------------------------------------------------------------------------------
  // bmm: c[t] = op(a[t]) · op(b[t]) for t < batch, c contiguous [batch, m, n]; a(i, k) at a + t·sab + i·sai + k·sak,
  // b(k, j) at b + t·sbb + k·sbk + j·sbj (element strides: any transpose, a batch stride 0 broadcasts). `p` is
  // scratch of 8·⌈n/8⌉·k + 32 floats: b packed in panels of 8 columns ([⌈n/8⌉, k, 8], zero past n), then a tile.
  L.push(
    'define void @bmm(float* noalias %a, float* noalias %b, float* noalias %c, float* noalias %p, i32 %batch, i32 %m, i32 %k, i32 %n, i32 %sab, i32 %sai, i32 %sak, i32 %sbb, i32 %sbk, i32 %sbj) #0 {',
  );
  L.push('entry:');
  L.push('  %n7 = add i32 %n, 7');
  L.push('  %np = and i32 %n7, -8');
  L.push('  %psize = mul i32 %np, %k');
  L.push('  %tail = getelementptr inbounds float, float* %p, i32 %psize');
  L.push('  %mn = mul i32 %m, %n');
  L.push('  %m4 = and i32 %m, -4');
  L.push('  br label %batch.loop');
  L.push('batch.loop:');
  L.push('  %t = phi i32 [0, %entry], [%t1, %panels.done]');
  L.push('  %tmore = icmp slt i32 %t, %batch');
  L.push('  br i1 %tmore, label %batch.body, label %exit');
  L.push('batch.body:');
  L.push('  %ao = mul i32 %t, %sab');
  L.push('  %abase = getelementptr inbounds float, float* %a, i32 %ao');
  L.push('  %bo = mul i32 %t, %sbb');
  L.push('  %bbase = getelementptr inbounds float, float* %b, i32 %bo');
  L.push('  %co = mul i32 %t, %mn');
  L.push('  %cbase = getelementptr inbounds float, float* %c, i32 %co');
  // Pack b: p[j0·k + kk·8 + l] = b(kk, j0 + l) (0 past n).
  L.push('  br label %pack.j');
  L.push('pack.j:');
  L.push('  %pj0 = phi i32 [0, %batch.body], [%pj1, %pack.k.done]');
  L.push('  %pjmore = icmp slt i32 %pj0, %np');
  L.push('  br i1 %pjmore, label %pack.k.pre, label %pack.done');
  L.push('pack.k.pre:');
  L.push('  %pjk = mul i32 %pj0, %k');
  L.push('  br label %pack.k');
  L.push('pack.k:');
  L.push('  %pk = phi i32 [0, %pack.k.pre], [%pk1, %pack.l.done]');
  L.push('  %pkmore = icmp slt i32 %pk, %k');
  L.push('  br i1 %pkmore, label %pack.l.pre, label %pack.k.done');
  L.push('pack.l.pre:');
  L.push('  %pbk = mul i32 %pk, %sbk');
  L.push('  %pk8 = shl i32 %pk, 3');
  L.push('  %pdst = add i32 %pjk, %pk8');
  L.push('  br label %pack.l');
  L.push('pack.l:');
  L.push('  %pl = phi i32 [0, %pack.l.pre], [%pl1, %pack.l.next]');
  L.push('  %plmore = icmp slt i32 %pl, 8');
  L.push('  br i1 %plmore, label %pack.l.body, label %pack.l.done');
  L.push('pack.l.body:');
  L.push('  %pj = add i32 %pj0, %pl');
  L.push('  %pin = icmp slt i32 %pj, %n');
  L.push('  br i1 %pin, label %pack.l.load, label %pack.l.next');
  L.push('pack.l.load:');
  L.push('  %pbj = mul i32 %pj, %sbj');
  L.push('  %pbo = add i32 %pbk, %pbj');
  L.push('  %pbp = getelementptr inbounds float, float* %bbase, i32 %pbo');
  L.push('  %pbv = load float, float* %pbp, align 4');
  L.push('  br label %pack.l.next');
  L.push('pack.l.next:');
  L.push('  %pval = phi float [0.0, %pack.l.body], [%pbv, %pack.l.load]');
  L.push('  %pdo = add i32 %pdst, %pl');
  L.push('  %pdp = getelementptr inbounds float, float* %p, i32 %pdo');
  L.push('  store float %pval, float* %pdp, align 4');
  L.push('  %pl1 = add i32 %pl, 1');
  L.push('  br label %pack.l');
  L.push('pack.l.done:');
  L.push('  %pk1 = add i32 %pk, 1');
  L.push('  br label %pack.k');
  L.push('pack.k.done:');
  L.push('  %pj1 = add i32 %pj0, 8');
  L.push('  br label %pack.j');
  L.push('pack.done:');
  L.push('  br label %panels');
  // Over panels of 8 columns: tiles of 4 rows, then single rows.
  L.push('panels:');
  L.push('  %j0 = phi i32 [0, %pack.done], [%j1, %rows1.done]');
  L.push('  %jmore = icmp slt i32 %j0, %np');
  L.push('  br i1 %jmore, label %panel.pre, label %panels.done');
  L.push('panel.pre:');
  L.push('  %pano = mul i32 %j0, %k');
  L.push('  %panel = getelementptr inbounds float, float* %p, i32 %pano');
  L.push('  %j8 = add i32 %j0, 8');
  L.push('  %full = icmp sle i32 %j8, %n');
  L.push('  %ncols = sub i32 %n, %j0');
  L.push('  br label %rows4');
  L.push('rows4:');
  L.push('  %t4.i = phi i32 [0, %panel.pre], [%t4.inext, %t4.exit]');
  L.push('  %r4more = icmp slt i32 %t4.i, %m4');
  L.push('  br i1 %r4more, label %t4.entry, label %rows1.pre');
  L.push('t4.entry:');
  L.push(...rowOffsets(R, 't4'));
  L.push(...tile(R, 't4'));
  L.push('t4.exit:');
  L.push(`  %t4.inext = add i32 %t4.i, ${R}`);
  L.push('  br label %rows4');
  L.push('rows1.pre:');
  L.push('  br label %rows1');
  L.push('rows1:');
  L.push('  %t1.i = phi i32 [%m4, %rows1.pre], [%t1.inext, %t1.exit]');
  L.push('  %r1more = icmp slt i32 %t1.i, %m');
  L.push('  br i1 %r1more, label %t1.entry, label %rows1.done');
  L.push('t1.entry:');
  L.push(...rowOffsets(1, 't1'));
  L.push(...tile(1, 't1'));
  L.push('t1.exit:');
  L.push('  %t1.inext = add i32 %t1.i, 1');
  L.push('  br label %rows1');
  L.push('rows1.done:');
  L.push('  %j1 = add i32 %j0, 8');
  L.push('  br label %panels');
  L.push('panels.done:');
  L.push('  %t1 = add i32 %t, 1');
  L.push('  br label %batch.loop');
  L.push('exit:');
  L.push('  ret void');
  L.push('}');
  L.push('');
  L.push(...sumIR());
  L.push(...geluIR());
  L.push(...layerNormIR());
  L.push('attributes #0 = { "wasm-export-name"="bmm" }');
  L.push('attributes #1 = { "wasm-export-name"="sum3" }');
  L.push('attributes #2 = { "wasm-export-name"="gelu_tanh" }');
  L.push('attributes #3 = { "wasm-export-name"="gelu_tanh_grad" }');
  L.push('attributes #4 = { "wasm-export-name"="layer_norm" }');
  L.push('attributes #5 = { "wasm-export-name"="layer_norm_grad" }');
  return `${L.join('\n')}\n`;
}

/** A `<4 x float>` load from `base + offset` (element offset), as IR lines defining `%name`. */
function vload(name, base, offset) {
  return [
    `  %${name}.p = getelementptr inbounds float, float* ${base}, i32 ${offset}`,
    `  %${name}.v = bitcast float* %${name}.p to <4 x float>*`,
    `  %${name} = load <4 x float>, <4 x float>* %${name}.v, align 4`,
  ];
}

/** A `<4 x float>` store of `value` at `base + offset`. */
function vstore(name, value, base, offset) {
  return [
    `  %${name}.p = getelementptr inbounds float, float* ${base}, i32 ${offset}`,
    `  %${name}.v = bitcast float* %${name}.p to <4 x float>*`,
    `  store <4 x float> ${value}, <4 x float>* %${name}.v, align 4`,
  ];
}

/**
 * sum3: out[p, q] = scale · Σ_r x[p, r, q] for x contiguous [pre, red, post], out contiguous [pre, post]. Rows
 * (post = 1) in four lanes then across them; columns in blocks of 16, then 4, then 1, in the order r = 0 … red−1.
 */
function sumIR() {
  const L = [];
  L.push('define void @sum3(float* noalias %x, float* noalias %out, i32 %pre, i32 %red, i32 %post, float %scale) #1 {');
  L.push('entry:');
  L.push('  %sc0 = insertelement <4 x float> undef, float %scale, i32 0');
  L.push('  %sc = shufflevector <4 x float> %sc0, <4 x float> undef, <4 x i32> zeroinitializer');
  L.push('  %rp = mul i32 %red, %post');
  L.push('  %red4 = and i32 %red, -4');
  L.push('  %isrow = icmp eq i32 %post, 1');
  L.push('  br label %p.loop');
  L.push('p.loop:');
  L.push('  %p = phi i32 [0, %entry], [%p1, %p.next]');
  L.push('  %pmore = icmp slt i32 %p, %pre');
  L.push('  br i1 %pmore, label %p.body, label %exit');
  L.push('p.body:');
  L.push('  %xo = mul i32 %p, %rp');
  L.push('  %xb = getelementptr inbounds float, float* %x, i32 %xo');
  L.push('  %oo = mul i32 %p, %post');
  L.push('  %ob = getelementptr inbounds float, float* %out, i32 %oo');
  L.push('  br i1 %isrow, label %row.v, label %c16.pre');
  // A row: four lanes over r < red4, then across the lanes, then the rest one by one.
  L.push('row.v:');
  L.push('  %rv.r = phi i32 [0, %p.body], [%rv.r1, %row.vbody]');
  L.push('  %rv.acc = phi <4 x float> [zeroinitializer, %p.body], [%rv.acc1, %row.vbody]');
  L.push('  %rv.more = icmp slt i32 %rv.r, %red4');
  L.push('  br i1 %rv.more, label %row.vbody, label %row.h');
  L.push('row.vbody:');
  L.push(...vload('rv.x', '%xb', '%rv.r'));
  L.push('  %rv.acc1 = fadd <4 x float> %rv.acc, %rv.x');
  L.push('  %rv.r1 = add i32 %rv.r, 4');
  L.push('  br label %row.v');
  L.push('row.h:');
  L.push(...across('rv.acc', 'h'));
  L.push('  br label %row.s');
  L.push('row.s:');
  L.push('  %rs.r = phi i32 [%red4, %row.h], [%rs.r1, %row.sbody]');
  L.push('  %rs.acc = phi float [%h, %row.h], [%rs.acc1, %row.sbody]');
  L.push('  %rs.more = icmp slt i32 %rs.r, %red');
  L.push('  br i1 %rs.more, label %row.sbody, label %row.store');
  L.push('row.sbody:');
  L.push('  %rs.xp = getelementptr inbounds float, float* %xb, i32 %rs.r');
  L.push('  %rs.x = load float, float* %rs.xp, align 4');
  L.push('  %rs.acc1 = fadd float %rs.acc, %rs.x');
  L.push('  %rs.r1 = add i32 %rs.r, 1');
  L.push('  br label %row.s');
  L.push('row.store:');
  L.push('  %rs.out = fmul float %rs.acc, %scale');
  L.push('  store float %rs.out, float* %ob, align 4');
  L.push('  br label %p.next');
  // Columns: blocks of 16 (four vectors), then of 4, then single columns.
  for (const [w, next] of [
    [16, 'c4.pre'],
    [4, 'c1.pre'],
  ]) {
    const t = `c${w}`;
    const v = w / 4;
    L.push(`${t}.pre:`);
    L.push(`  %${t}.lim0 = add i32 %post, ${1 - w}`);
    L.push(`  br label %${t}.q`);
    L.push(`${t}.q:`);
    L.push(
      `  %${t}.qq = phi i32 [${w === 16 ? 0 : '%c16.qq'}, ${w === 16 ? '%c16.pre' : '%c4.pre'}], [%${t}.qq1, %${t}.store]`,
    );
    L.push(`  %${t}.qmore = icmp slt i32 %${t}.qq, %${t}.lim0`);
    L.push(`  br i1 %${t}.qmore, label %${t}.r, label %${next}`);
    L.push(`${t}.r:`);
    L.push(`  %${t}.rr = phi i32 [0, %${t}.q], [%${t}.rr1, %${t}.rbody]`);
    for (let i = 0; i < v; i++)
      L.push(`  %${t}.a${i} = phi <4 x float> [zeroinitializer, %${t}.q], [%${t}.a${i}n, %${t}.rbody]`);
    L.push(`  %${t}.rmore = icmp slt i32 %${t}.rr, %red`);
    L.push(`  br i1 %${t}.rmore, label %${t}.rbody, label %${t}.store`);
    L.push(`${t}.rbody:`);
    L.push(`  %${t}.ro = mul i32 %${t}.rr, %post`);
    L.push(`  %${t}.o = add i32 %${t}.ro, %${t}.qq`);
    for (let i = 0; i < v; i++) {
      L.push(`  %${t}.o${i} = add i32 %${t}.o, ${4 * i}`);
      L.push(...vload(`${t}.x${i}`, '%xb', `%${t}.o${i}`));
      L.push(`  %${t}.a${i}n = fadd <4 x float> %${t}.a${i}, %${t}.x${i}`);
    }
    L.push(`  %${t}.rr1 = add i32 %${t}.rr, 1`);
    L.push(`  br label %${t}.r`);
    L.push(`${t}.store:`);
    for (let i = 0; i < v; i++) {
      L.push(`  %${t}.s${i} = fmul <4 x float> %${t}.a${i}, %sc`);
      L.push(`  %${t}.so${i} = add i32 %${t}.qq, ${4 * i}`);
      L.push(...vstore(`${t}.st${i}`, `%${t}.s${i}`, '%ob', `%${t}.so${i}`));
    }
    L.push(`  %${t}.qq1 = add i32 %${t}.qq, ${w}`);
    L.push(`  br label %${t}.q`);
  }
  L.push('c1.pre:');
  L.push('  br label %c1.q');
  L.push('c1.q:');
  L.push('  %c1.qq = phi i32 [%c4.qq, %c1.pre], [%c1.qq1, %c1.store]');
  L.push('  %c1.qmore = icmp slt i32 %c1.qq, %post');
  L.push('  br i1 %c1.qmore, label %c1.r, label %p.next');
  L.push('c1.r:');
  L.push('  %c1.rr = phi i32 [0, %c1.q], [%c1.rr1, %c1.rbody]');
  L.push('  %c1.a = phi float [0.0, %c1.q], [%c1.an, %c1.rbody]');
  L.push('  %c1.rmore = icmp slt i32 %c1.rr, %red');
  L.push('  br i1 %c1.rmore, label %c1.rbody, label %c1.store');
  L.push('c1.rbody:');
  L.push('  %c1.ro = mul i32 %c1.rr, %post');
  L.push('  %c1.o = add i32 %c1.ro, %c1.qq');
  L.push('  %c1.xp = getelementptr inbounds float, float* %xb, i32 %c1.o');
  L.push('  %c1.x = load float, float* %c1.xp, align 4');
  L.push('  %c1.an = fadd float %c1.a, %c1.x');
  L.push('  %c1.rr1 = add i32 %c1.rr, 1');
  L.push('  br label %c1.r');
  L.push('c1.store:');
  L.push('  %c1.s = fmul float %c1.a, %scale');
  L.push('  %c1.op = getelementptr inbounds float, float* %ob, i32 %c1.qq');
  L.push('  store float %c1.s, float* %c1.op, align 4');
  L.push('  %c1.qq1 = add i32 %c1.qq, 1');
  L.push('  br label %c1.q');
  L.push('p.next:');
  L.push('  %p1 = add i32 %p, 1');
  L.push('  br label %p.loop');
  L.push('exit:');
  L.push('  ret void');
  L.push('}');
  L.push('');
  return L;
}

/** A float32 constant as LLVM IR spells it (the double with the same value, in hex). */
function f32(value) {
  const d = new DataView(new ArrayBuffer(8));
  d.setFloat64(0, Math.fround(value));
  return `0x${d.getBigUint64(0).toString(16).toUpperCase().padStart(16, '0')}`;
}

/** `<4 x float>` with every lane `value`. */
function splat(value) {
  const c = `float ${f32(value)}`;
  return `<${c}, ${c}, ${c}, ${c}>`;
}

/**
 * `%<out> = e^%<x>` on four lanes for x ≤ 0 (Cephes' expf: x = n·ln 2 + r, |r| ≤ ½ ln 2, e^r by a degree-7
 * polynomial; n = round(x·log₂e) and 2ⁿ both from one addition of a "magic" 1.5·2²³ + 127, whose low mantissa bits
 * are then n + 127; relative error ≈ 1 ulp). Below −87.336 the result is 0 (no subnormals); NaN stays NaN. Only
 * single-instruction operations on x86 (pmax, not max; no float-to-int conversion).
 */
function vexp(x, out) {
  const t = out;
  return [
    `  %${t}.lo = fcmp olt <4 x float> %${x}, ${splat(-87.33654)}`,
    `  %${t}.a = call <4 x float> @llvm.wasm.pmax.v4f32(<4 x float> %${x}, <4 x float> ${splat(-87.33654)})`,
    `  %${t}.t = fmul <4 x float> %${t}.a, ${splat(Math.LOG2E)}`,
    `  %${t}.nb = fadd <4 x float> %${t}.t, ${splat(12582912 + 127)}`,
    `  %${t}.bits = bitcast <4 x float> %${t}.nb to <4 x i32>`,
    `  %${t}.e1 = shl <4 x i32> %${t}.bits, <i32 23, i32 23, i32 23, i32 23>`,
    `  %${t}.pw = bitcast <4 x i32> %${t}.e1 to <4 x float>`,
    `  %${t}.n = fsub <4 x float> %${t}.nb, ${splat(12582912 + 127)}`,
    `  %${t}.c1 = fmul <4 x float> %${t}.n, ${splat(0.693359375)}`,
    `  %${t}.r1 = fsub <4 x float> %${t}.a, %${t}.c1`,
    `  %${t}.c2 = fmul <4 x float> %${t}.n, ${splat(-2.1219444e-4)}`,
    `  %${t}.r = fsub <4 x float> %${t}.r1, %${t}.c2`,
    `  %${t}.z = fmul <4 x float> %${t}.r, %${t}.r`,
    `  %${t}.p0 = fmul <4 x float> %${t}.r, ${splat(1.98756915e-4)}`,
    `  %${t}.p1 = fadd <4 x float> %${t}.p0, ${splat(1.3981999507e-3)}`,
    `  %${t}.p2 = fmul <4 x float> %${t}.p1, %${t}.r`,
    `  %${t}.p3 = fadd <4 x float> %${t}.p2, ${splat(8.3334519073e-3)}`,
    `  %${t}.p4 = fmul <4 x float> %${t}.p3, %${t}.r`,
    `  %${t}.p5 = fadd <4 x float> %${t}.p4, ${splat(4.1665795894e-2)}`,
    `  %${t}.p6 = fmul <4 x float> %${t}.p5, %${t}.r`,
    `  %${t}.p7 = fadd <4 x float> %${t}.p6, ${splat(1.6666665459e-1)}`,
    `  %${t}.p8 = fmul <4 x float> %${t}.p7, %${t}.r`,
    `  %${t}.p9 = fadd <4 x float> %${t}.p8, ${splat(5.0000001201e-1)}`,
    `  %${t}.q0 = fmul <4 x float> %${t}.p9, %${t}.z`,
    `  %${t}.q1 = fadd <4 x float> %${t}.q0, %${t}.r`,
    `  %${t}.y = fadd <4 x float> %${t}.q1, ${splat(1)}`,
    `  %${t}.v = fmul <4 x float> %${t}.y, %${t}.pw`,
    `  %${out} = select <4 x i1> %${t}.lo, <4 x float> zeroinitializer, <4 x float> %${t}.v`,
  ];
}

/** The sum of the four lanes of `%<v>` into the float `%<out>` (pairwise: (l0 + l1) + (l2 + l3)). */
function across(v, out) {
  const L = [];
  for (let i = 0; i < 4; i++) L.push(`  %${out}.l${i} = extractelement <4 x float> %${v}, i32 ${i}`);
  L.push(`  %${out}.m01 = fadd float %${out}.l0, %${out}.l1`);
  L.push(`  %${out}.m23 = fadd float %${out}.l2, %${out}.l3`);
  L.push(`  %${out} = fadd float %${out}.m01, %${out}.m23`);
  return L;
}

/**
 * A loop over `i` in [from, to) step `step` inside block `name`: IR lines. `carried` are [name, type, init] values
 * carried through the loop (`%<name>` inside the body, `%<name>.next` set by the body, `%<name>` after the loop
 * holds the final value); `body(i)` returns the body's lines, which end in block `latch` (the body block itself
 * unless the body branches).
 */
function loop(name, i, from, to, step, carried, body, pred, latch = `${name}.body`) {
  const L = [];
  L.push(`  br label %${name}.head`);
  L.push(`${name}.head:`);
  L.push(`  %${i} = phi i32 [${from}, %${pred}], [%${i}.next, %${latch}]`);
  for (const [c, type, init] of carried) L.push(`  %${c} = phi ${type} [${init}, %${pred}], [%${c}.next, %${latch}]`);
  L.push(`  %${name}.more = icmp slt i32 %${i}, ${to}`);
  L.push(`  br i1 %${name}.more, label %${name}.body, label %${name}.end`);
  L.push(`${name}.body:`);
  L.push(...body(i));
  L.push(`  %${i}.next = add i32 %${i}, ${step}`);
  L.push(`  br label %${name}.head`);
  L.push(`${name}.end:`);
  return L;
}

/** A float load `%<name> = base[offset]`. */
function sload(name, base, offset) {
  return [
    `  %${name}.p = getelementptr inbounds float, float* ${base}, i32 ${offset}`,
    `  %${name} = load float, float* %${name}.p, align 4`,
  ];
}

/** A float store `base[offset] = value`. */
function sstore(name, value, base, offset) {
  return [
    `  %${name}.p = getelementptr inbounds float, float* ${base}, i32 ${offset}`,
    `  store float ${value}, float* %${name}.p, align 4`,
  ];
}

/**
 * `out[i] = f(in₀[i], …)` over [0, len): four lanes at a time below `len4`, then one element at a time through lane
 * 0 of the same vector code. `inputs` are `[name, base]` pairs; `f(names, out)` returns the lines that define the
 * `<4 x float>` `%<out>` from `%<names[k]>`. Starts in block `pred`, ends in block `<label>s.end`.
 */
function lanes(label, inputs, out, f, pred, len4 = '%n4', len = '%n') {
  const v = `${label}v`;
  const s = `${label}s`;
  return [
    ...loop(
      v,
      `${v}.i`,
      0,
      len4,
      4,
      [],
      (i) => [
        ...inputs.flatMap(([name, base]) => vload(`${v}.${name}`, base, `%${i}`)),
        ...f(
          inputs.map(([name]) => `${v}.${name}`),
          `${v}.out`,
        ),
        ...vstore(`${v}.st`, `%${v}.out`, out, `%${i}`),
      ],
      pred,
    ),
    ...loop(
      s,
      `${s}.i`,
      len4,
      len,
      1,
      [],
      (i) => [
        ...inputs.flatMap(([name, base]) => [
          ...sload(`${s}.${name}0`, base, `%${i}`),
          `  %${s}.${name} = insertelement <4 x float> zeroinitializer, float %${s}.${name}0, i32 0`,
        ]),
        ...f(
          inputs.map(([name]) => `${s}.${name}`),
          `${s}.outv`,
        ),
        `  %${s}.out = extractelement <4 x float> %${s}.outv, i32 0`,
        ...sstore(`${s}.st`, `%${s}.out`, out, `%${i}`),
      ],
      `${v}.end`,
    ),
  ];
}

/**
 * GELU, tanh form, on n contiguous floats: y = x·σ(2v), v = √(2/π)(x + 0.044715 x³) (σ(2v) = ½(1 + tanh v));
 * its gradient dx = dy·(s + 2x·s(1 − s)·v′), s = σ(2v) , v′ = √(2/π)(1 + 3·0.044715 x²). Four lanes, then the rest.
 */
function geluIR() {
  const c = 2 * Math.sqrt(2 / Math.PI);
  // s = σ(2v) and 1 − s on four lanes from %<x>, through e = e^(−|2v|) ≤ 1 and q = 1/(1 + e): for 2v ≥ 0, s = q
  // and 1 − s = e·q; for 2v < 0, s = e·q and 1 − s = q (no cancellation either way). Defines %<t>.s, %<t>.c (1 − s)
  // and %<t>.x2.
  const sig = (x, t) => [
    `  %${t}.x2 = fmul <4 x float> %${x}, %${x}`,
    `  %${t}.x3 = fmul <4 x float> %${t}.x2, %${x}`,
    `  %${t}.k = fmul <4 x float> %${t}.x3, ${splat(0.044715)}`,
    `  %${t}.u = fadd <4 x float> %${x}, %${t}.k`,
    `  %${t}.w = fmul <4 x float> %${t}.u, ${splat(c)}`,
    `  %${t}.aw = call <4 x float> @llvm.fabs.v4f32(<4 x float> %${t}.w)`,
    `  %${t}.na = fneg <4 x float> %${t}.aw`,
    ...vexp(`${t}.na`, `${t}.e`),
    `  %${t}.d = fadd <4 x float> %${t}.e, ${splat(1)}`,
    `  %${t}.q = fdiv <4 x float> ${splat(1)}, %${t}.d`,
    `  %${t}.eq = fmul <4 x float> %${t}.e, %${t}.q`,
    `  %${t}.neg = fcmp olt <4 x float> %${t}.w, zeroinitializer`,
    `  %${t}.s = select <4 x i1> %${t}.neg, <4 x float> %${t}.eq, <4 x float> %${t}.q`,
    `  %${t}.c = select <4 x i1> %${t}.neg, <4 x float> %${t}.q, <4 x float> %${t}.eq`,
  ];
  const forward = (x, out) => [...sig(x, `${out}.g`), `  %${out} = fmul <4 x float> %${x}, %${out}.g.s`];
  const backward = (x, dy, out) => [
    ...sig(x, `${out}.g`),
    `  %${out}.ss = fmul <4 x float> %${out}.g.s, %${out}.g.c`,
    `  %${out}.v0 = fmul <4 x float> %${out}.g.x2, ${splat(3 * 0.044715)}`,
    `  %${out}.v1 = fadd <4 x float> %${out}.v0, ${splat(1)}`,
    `  %${out}.v2 = fmul <4 x float> %${out}.v1, ${splat(c)}`,
    `  %${out}.t0 = fmul <4 x float> %${out}.ss, %${out}.v2`,
    `  %${out}.t1 = fmul <4 x float> %${out}.t0, %${x}`,
    `  %${out}.t2 = fadd <4 x float> %${out}.t1, %${out}.g.s`,
    `  %${out} = fmul <4 x float> %${out}.t2, %${dy}`,
  ];
  const L = [];
  L.push('define void @gelu_tanh(float* noalias %x, float* noalias %out, i32 %n) #2 {');
  L.push('entry:');
  L.push('  %n4 = and i32 %n, -4');
  L.push(...lanes('g', [['x', '%x']], '%out', ([x], y) => forward(x, y), 'entry'));
  L.push('  ret void');
  L.push('}');
  L.push('');
  L.push('define void @gelu_tanh_grad(float* noalias %x, float* noalias %dy, float* noalias %dx, i32 %n) #3 {');
  L.push('entry:');
  L.push('  %n4 = and i32 %n, -4');
  L.push(
    ...lanes(
      'b',
      [
        ['x', '%x'],
        ['dy', '%dy'],
      ],
      '%dx',
      ([x, dy], y) => backward(x, dy, y),
      'entry',
    ),
  );
  L.push('  ret void');
  L.push('}');
  L.push('');
  return L;
}

/**
 * Σ_j f(j) over a row of `len` floats as IR lines: four lanes over j < %len4 (`vterm(j)` gives the lines that
 * define `%<name>.vt`, a `<4 x float>` term), then across the lanes, then the rest (`sterm(j)` defines `%<name>.st`).
 * Leaves the mean (the sum times `%invlen`) in `%<name>`; `pred` is the block the lines start in, and they end in
 * `<name>.s.end`.
 */
function rowSum(name, vterm, sterm, pred) {
  return [
    ...loop(
      `${name}.v`,
      `${name}.j`,
      0,
      '%len4',
      4,
      [[`${name}.acc`, '<4 x float>', 'zeroinitializer']],
      (j) => [...vterm(`%${j}`), `  %${name}.acc.next = fadd <4 x float> %${name}.acc, %${name}.vt`],
      pred,
    ),
    ...across(`${name}.acc`, `${name}.h`),
    ...loop(
      `${name}.s`,
      `${name}.js`,
      '%len4',
      '%len',
      1,
      [[`${name}.sum`, 'float', `%${name}.h`]],
      (j) => [...sterm(`%${j}`), `  %${name}.sum.next = fadd float %${name}.sum, %${name}.st`],
      `${name}.v.end`,
    ),
    `  %${name} = fmul float %${name}.sum, %invlen`,
  ];
}

/**
 * layer_norm: the projection of each of `rows` rows of `len` floats onto {mean 0, variance 1} (docs/projections.md):
 * μ = mean x, c = x − μ, β = mean c²; regularised (`exactflag` 0), y = c/√(β + ε); exact (`exactflag` ≠ 0, ε unread),
 * y = c/√max(β, 10⁻³⁰), or the tie-break direction `dir` (len floats, read only then) where β < 10⁻¹⁰ μ² + 10⁻³⁰
 * (the set's nearest point is not unique). Writes y to `out`
 * and 1/√(·) per row to `rstd` (0 for a tie-broken row: its gradient is 0).
 * layer_norm_grad: dx = r (dy − mean dy − y · mean(dy ⊙ y)) per row, r = rstd, from the forward's y and rstd.
 */
function layerNormIR() {
  return [
    ...rowKernel(
      'define void @layer_norm(float* noalias %x, float* noalias %out, float* noalias %rstd, float* noalias %dir, i32 %rows, i32 %len, float %eps, i32 %exactflag) #4 {',
      ['  %exact = icmp ne i32 %exactflag, 0'],
      [
        ['xr', '%x'],
        ['or', '%out'],
      ],
      (r) => {
        const B = [];
        B.push(
          ...rowSum(
            'mu',
            (j) => vload('mu.vt', '%xr', j),
            (j) => sload('mu.st', '%xr', j),
            'row.start',
          ),
        );
        B.push(...splatOf('muv', '%mu'));
        B.push(
          ...rowSum(
            'var',
            (j) => [
              ...vload('var.x', '%xr', j),
              '  %var.c = fsub <4 x float> %var.x, %muv',
              '  %var.vt = fmul <4 x float> %var.c, %var.c',
            ],
            (j) => [
              ...sload('var.y', '%xr', j),
              '  %var.d = fsub float %var.y, %mu',
              '  %var.st = fmul float %var.d, %var.d',
            ],
            'mu.s.end',
          ),
        );
        // ε > 0: 1/√(β + ε); ε = 0: 1/√max(β, 1e-30) and the tie-break test β < 1e-10 μ² + 1e-30.
        B.push('  %ve = fadd float %var, %eps');
        B.push('  %vbig = fcmp ogt float %var, 0x39B4484C00000000');
        B.push('  %vmax = select i1 %vbig, float %var, float 0x39B4484C00000000');
        B.push('  %vsel = select i1 %exact, float %vmax, float %ve');
        B.push('  %sq = call float @llvm.sqrt.f32(float %vsel)');
        B.push('  %rs = fdiv float 1.0, %sq');
        B.push('  %mu2 = fmul float %mu, %mu');
        B.push('  %thr0 = fmul float %mu2, 0x3DDB7CDFE0000000');
        B.push('  %thr = fadd float %thr0, 0x39B4484C00000000');
        B.push('  %gap = fsub float %thr, %var');
        B.push('  %tie0 = fcmp ogt float %gap, 0.0');
        B.push('  %tie = and i1 %tie0, %exact');
        B.push('  %rsv = select i1 %tie, float 0.0, float %rs');
        B.push(...sstore('rst', '%rsv', '%rstd', `%${r}`));
        B.push('  br i1 %tie, label %row.dir, label %row.scale');
        // The tie-break direction.
        B.push('row.dir:');
        B.push(
          ...loop(
            'dr',
            'k',
            0,
            '%len',
            1,
            [],
            (k) => [...sload('dr.v', '%dir', `%${k}`), ...sstore('dr.st', '%dr.v', '%or', `%${k}`)],
            'row.dir',
          ),
        );
        B.push('  br label %row.tail');
        // y = (x − μ)·r.
        B.push('row.scale:');
        B.push(...splatOf('rsv4', '%rs'));
        B.push(
          ...lanes(
            'y',
            [['x', '%xr']],
            '%or',
            ([x], y) => [`  %${y}.c = fsub <4 x float> %${x}, %muv`, `  %${y} = fmul <4 x float> %${y}.c, %rsv4`],
            'row.scale',
            '%len4',
            '%len',
          ),
        );
        return B;
      },
    ),
    ...rowKernel(
      'define void @layer_norm_grad(float* noalias %dy, float* noalias %y, float* noalias %rstd, float* noalias %dx, i32 %rows, i32 %len) #5 {',
      [],
      [
        ['dyr', '%dy'],
        ['yr', '%y'],
        ['dxr', '%dx'],
      ],
      (r) => {
        const B = [];
        B.push(...sload('rr', '%rstd', `%${r}`));
        B.push(
          ...rowSum(
            'a',
            (j) => vload('a.vt', '%dyr', j),
            (j) => sload('a.st', '%dyr', j),
            'row.start',
          ),
        );
        B.push(
          ...rowSum(
            'b',
            (j) => [...vload('b.d', '%dyr', j), ...vload('b.y', '%yr', j), '  %b.vt = fmul <4 x float> %b.d, %b.y'],
            (j) => [...sload('b.sd', '%dyr', j), ...sload('b.sy', '%yr', j), '  %b.st = fmul float %b.sd, %b.sy'],
            'a.s.end',
          ),
        );
        B.push(...splatOf('av', '%a'), ...splatOf('bv', '%b'), ...splatOf('rv', '%rr'));
        B.push(
          ...lanes(
            'g',
            [
              ['d', '%dyr'],
              ['y', '%yr'],
            ],
            '%dxr',
            ([d, y], g) => [
              `  %${g}.t0 = fsub <4 x float> %${d}, %av`,
              `  %${g}.t1 = fmul <4 x float> %${y}, %bv`,
              `  %${g}.t2 = fsub <4 x float> %${g}.t0, %${g}.t1`,
              `  %${g} = fmul <4 x float> %${g}.t2, %rv`,
            ],
            'b.s.end',
            '%len4',
            '%len',
          ),
        );
        return B;
      },
    ),
  ];
}

/** `%<name>`: the float `value` in all four lanes. */
function splatOf(name, value) {
  return [
    `  %${name}.i = insertelement <4 x float> undef, float ${value}, i32 0`,
    `  %${name} = shufflevector <4 x float> %${name}.i, <4 x float> undef, <4 x i32> zeroinitializer`,
  ];
}

/**
 * A function over `%rows` rows of `%len` floats: `header` is its `define` line; its entry block defines `%len4`,
 * `%lenf` and `%invlen` (1/len), then `entry`; per row r it sets `%ro = r·len` and the row pointers `pointers`
 * (`[name, base]`: `%<name> = base + ro`), then `body(r)`, which starts in block `row.start` and may branch, but
 * must leave every path at block `row.tail` (by falling through its end, or by `br label %row.tail`).
 */
function rowKernel(header, entry, pointers, body) {
  return [
    header,
    'entry:',
    '  %len4 = and i32 %len, -4',
    '  %lenf = sitofp i32 %len to float',
    '  %invlen = fdiv float 1.0, %lenf',
    ...entry,
    ...loop(
      'row',
      'r',
      0,
      '%rows',
      1,
      [],
      (r) => [
        `  %ro = mul i32 %${r}, %len`,
        ...pointers.map(([name, base]) => `  %${name} = getelementptr inbounds float, float* ${base}, i32 %ro`),
        '  br label %row.start',
        'row.start:',
        ...body(r),
        '  br label %row.tail',
        'row.tail:',
      ],
      'entry',
      'row.tail',
    ),
    '  ret void',
    '}',
    '',
  ];
}
