// --view-op-graph outputs one Graphviz digraph per function instead of the IR.
// RUN: avalon-opt %s --view-op-graph | filecheck %s
// CHECK:      digraph "add_mul" {
// CHECK:        a{{[0-9]+}} [label="arg0 : f32", shape=ellipse];
// CHECK:        [[ADD:op[0-9]+]] [label="arith.addf\n: f32"];
// CHECK:        [[MUL:op[0-9]+]] [label="arith.mulf\n: f32"];
// CHECK:        [[ADD]] -> [[MUL]] [label="0"];
// CHECK:      }
// CHECK:      digraph "second" {

// --view-op-graph-dir writes one .dot file per function and still prints the IR.
// RUN: rm -rf %t && avalon-opt %s --view-op-graph-dir=%t | filecheck %s --check-prefix=IR
// IR: func.func @add_mul
// RUN: ls %t | filecheck %s --check-prefix=FILES
// FILES:      add_mul.dot
// FILES-NEXT: second.dot
func.func @add_mul(%x: f32, %y: f32) -> f32 {
  %s = arith.addf %x, %y : f32
  %p = arith.mulf %s, %y : f32
  return %p : f32
}
func.func @second() {
  return
}
