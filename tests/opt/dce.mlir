// RUN: avalon-opt %s --pass-pipeline='builtin.module(dce)' | filecheck %s

// Unused side-effect-free ops go; the returned value and its inputs stay.
// CHECK-LABEL: func.func @f
// CHECK-NEXT:    %[[A:.*]] = arith.addi %arg0, %arg0 : i32
// CHECK-NEXT:    return %[[A]] : i32
// CHECK-NOT:     arith.muli
func.func @f(%x: i32) -> i32 {
  %a = arith.addi %x, %x : i32
  %unused = arith.muli %a, %a : i32
  %also_unused = arith.subi %unused, %x : i32
  return %a : i32
}
