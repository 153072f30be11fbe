// --print-ir-after-failure shows the IR a failing pass left behind, and only that.
// RUN: not avalon-opt %s --load-pass-plugin=%S/plugins/failing_passes.py \
// RUN:   --pass-pipeline='builtin.module(canonicalize,func.func(test-fail))' \
// RUN:   --print-ir-after-failure 2>&1 | filecheck %s
// CHECK-NOT:  IR Dump After Canonicalize
// CHECK:      // -----// IR Dump After Fail Failed (test-fail) //----- //
// CHECK-NEXT: func.func @f
// CHECK:      print-ir-after-failure.mlir:[[# @LINE + 3]]:1: error: this function is not supported
// CHECK:      note: pass 'test-fail' failed on 'func.func' op
// CHECK-NOT:  module {
func.func @f() {
  return
}
