// Only passes that changed the IR are dumped: the second cse finds nothing to do.
// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(cse,cse),canonicalize)' \
// RUN:   --print-ir-after-change -o /dev/null 2>&1 | filecheck %s
// CHECK:      IR Dump After CSE (cse)
// CHECK-NOT:  IR Dump After CSE (cse)
// CHECK-NOT:  IR Dump After Canonicalize
func.func @f(%x: i32) -> i32 {
  %a = arith.addi %x, %x : i32
  %b = arith.addi %x, %x : i32
  %s = arith.muli %a, %b : i32
  return %s : i32
}
