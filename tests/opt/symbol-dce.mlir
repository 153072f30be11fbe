// RUN: avalon-opt %s --pass-pipeline='builtin.module(symbol-dce)' | filecheck %s

// Private functions nothing public references are erased; used ones stay.
// CHECK-NOT:   @unreferenced
// CHECK:       func.func private @used
// CHECK:       func.func @main
// CHECK-NOT:   @unreferenced
func.func private @unreferenced() {
  return
}
func.func private @used(%x: f32) -> f32 {
  return %x : f32
}
func.func @main(%x: f32) -> f32 {
  %0 = func.call @used(%x) : (f32) -> f32
  return %0 : f32
}
