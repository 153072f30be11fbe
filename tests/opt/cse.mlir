// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(cse))' | filecheck %s

// The second multiplication and the duplicated constant are merged into the first ones.
// CHECK-LABEL: func.func @dup
// CHECK-NEXT:    %[[C:.*]] = arith.constant 2 : i32
// CHECK-NEXT:    %[[M:.*]] = arith.muli %arg0, %[[C]] : i32
// CHECK-NEXT:    %[[S:.*]] = arith.addi %[[M]], %[[M]] : i32
// CHECK-NEXT:    return %[[S]] : i32
func.func @dup(%x: i32) -> i32 {
  %c = arith.constant 2 : i32
  %c_again = arith.constant 2 : i32
  %a = arith.muli %x, %c : i32
  %b = arith.muli %x, %c_again : i32
  %s = arith.addi %a, %b : i32
  return %s : i32
}
