// With --print-ir-module-scope a dump shows the whole module and names the op the pass ran on.
// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(cse))' --print-ir-after-all \
// RUN:   --print-ir-module-scope -o /dev/null 2>&1 | filecheck %s
// CHECK:      // -----// IR Dump After CSE (cse) ('func.func' operation: @a) //----- //
// CHECK-NEXT: module {
// CHECK:        func.func @a
// CHECK:        func.func @b
// CHECK:      // -----// IR Dump After CSE (cse) ('func.func' operation: @b) //----- //
// CHECK-NEXT: module {
func.func @a() {
  return
}
func.func @b() {
  return
}
