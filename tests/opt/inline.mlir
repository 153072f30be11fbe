// RUN: avalon-opt %s --pass-pipeline='builtin.module(inline)' | filecheck %s

// The private callee is inlined into @main and then erased.
// CHECK-NOT:   func.func private @square
// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %[[M:.*]] = arith.mulf %arg0, %arg0 : f32
// CHECK-NEXT:    return %[[M]] : f32
func.func private @square(%x: f32) -> f32 {
  %m = arith.mulf %x, %x : f32
  return %m : f32
}
func.func @main(%x: f32) -> f32 {
  %0 = func.call @square(%x) : (f32) -> f32
  return %0 : f32
}
