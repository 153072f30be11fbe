// RUN: avalon-opt %s --pass-pipeline='builtin.module(canonicalize)' | filecheck %s

// Constants fold, x * 1 disappears and dead values are erased.
// CHECK-LABEL: func.func @fold
// CHECK-NEXT:    %[[C:.*]] = arith.constant 7 : i32
// CHECK-NEXT:    %[[R:.*]] = arith.addi %arg0, %[[C]] : i32
// CHECK-NEXT:    return %[[R]] : i32
func.func @fold(%x: i32) -> i32 {
  %c3 = arith.constant 3 : i32
  %c4 = arith.constant 4 : i32
  %c1 = arith.constant 1 : i32
  %seven = arith.addi %c3, %c4 : i32
  %y = arith.muli %x, %c1 : i32
  %dead = arith.subi %y, %x : i32
  %r = arith.addi %y, %seven : i32
  return %r : i32
}
