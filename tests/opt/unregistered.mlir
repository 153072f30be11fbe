// Unknown dialects are rejected unless --allow-unregistered-dialect is given.
// RUN: not avalon-opt %s 2>&1 | filecheck %s --check-prefix=ERR
// ERR: unregistered.mlir:[[# @LINE + 8]]:8: error: unregistered operation 'mydialect.op'
// RUN: avalon-opt %s --allow-unregistered-dialect --pass-pipeline='builtin.module(cse)' \
// RUN:   | filecheck %s
// Ops with unknown effects are never merged by cse.
// CHECK:      %[[A:.*]] = "mydialect.op"() {k = 1 : i64} : () -> i32
// CHECK-NEXT: %[[B:.*]] = "mydialect.op"() {k = 1 : i64} : () -> i32
// CHECK-NEXT: "mydialect.use"(%[[A]], %[[B]]) : (i32, i32) -> ()
func.func @f() {
  %a = "mydialect.op"() {k = 1} : () -> i32
  %b = "mydialect.op"() {k = 1} : () -> i32
  "mydialect.use"(%a, %b) : (i32, i32) -> ()
  return
}
