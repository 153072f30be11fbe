// Warnings, notes and remarks emitted by passes are checked too: here the example plugin's
// count-ops pass emits one remark per function.
// RUN: avalon-opt %s --verify-diagnostics --load-pass-plugin=%root/examples/plugins/my_passes.py \
// RUN:   --pass-pipeline='builtin.module(func.func(count-ops))'
// RUN: not avalon-opt %s --verify-diagnostics \
// RUN:   --load-pass-plugin=%root/examples/plugins/my_passes.py \
// RUN:   --pass-pipeline='builtin.module(func.func(count-ops{dialect=func}))' 2>&1 \
// RUN:   | filecheck %s --check-prefix=OTHER
// OTHER: remarks.mlir:13:1: error: unexpected remark: 'func.func' op 2 func ops
// OTHER: error: expected remark "2 arith ops" was not produced

// expected-remark @+1 {{2 arith ops}}
func.func @two(%x: f32) -> f32 {
  %a = arith.addf %x, %x : f32
  %b = arith.mulf %a, %a : f32
  return %b : f32
}

// expected-remark @+1 {{0 arith ops}}
func.func @none() {
  return
}
