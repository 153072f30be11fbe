// --print-ir-tree-dir writes one file per dump into a tree mirroring the op nesting.
// RUN: rm -rf %t && avalon-opt %s --pass-pipeline='builtin.module(canonicalize,func.func(cse))' \
// RUN:   --print-ir-after-all --print-ir-tree-dir=%t -o /dev/null
// RUN: ls %t/builtin_module_no-symbol-name | filecheck %s --check-prefix=TOP
// TOP:      0_canonicalize.mlir
// TOP-NEXT: func_func_f
// TOP-NEXT: func_func_g
// RUN: cat %t/builtin_module_no-symbol-name/func_func_g/0_0_cse.mlir | filecheck %s
// CHECK:      // -----// IR Dump After CSE (cse) //----- //
// CHECK-NEXT: func.func @g
func.func @f() {
  return
}
func.func @g() {
  return
}
