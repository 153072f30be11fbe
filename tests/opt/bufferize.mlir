// RUN: avalon-opt %s --split-input-file --verify-diagnostics \
// RUN:   --pass-pipeline='builtin.module(bufferize)' | filecheck %s

// Tensor arguments become memrefs, the tensor result a trailing out-parameter, the scalar
// result stays a result. %a gets a buffer; %c reuses %b's (which dies there); the last op
// writes straight into the out-parameter; the buffers are freed after their last use.
// CHECK-LABEL: func.func @abi(
// CHECK-SAME:      %[[X:.*]]: memref<2x3xf32>, %[[S:.*]]: f32, %[[Y:.*]]: memref<2x3xf32>,
// CHECK-SAME:      %[[OUT:.*]]: memref<2x3xf32> {avalon.out, avalon.result = 0 : i64})
// CHECK-SAME:      -> (f32 {avalon.result = 1 : i64}) attributes {avalon.bufferized}
// CHECK:         %[[A:.*]] = memory.alloc() {alignment = 64 : i64} : memref<2x3xf32>
// CHECK:         arith.addf
// CHECK:         memory.store %{{.*}}, %[[A]]
// CHECK:         %[[B:.*]] = memory.alloc() {alignment = 64 : i64} : memref<2x3xf32>
// CHECK:         math.exp
// CHECK:         memory.store %{{.*}}, %[[B]]
// CHECK:         arith.mulf
// CHECK:         memory.store %{{.*}}, %[[B]]
// CHECK:         memory.dealloc %[[A]]
// CHECK:         arith.negf
// CHECK:         memory.store %{{.*}}, %[[OUT]]
// CHECK:         memory.dealloc %[[B]]
// CHECK-NOT:     memory.copy
// CHECK:         return %[[S]] : f32
func.func @abi(%x: tensor<2x3xf32>, %s: f32, %y: tensor<2x3xf32>) -> (tensor<2x3xf32>, f32) {
  %a = tensor.add %x, %y : tensor<2x3xf32>
  %b = tensor.exp %a : tensor<2x3xf32>
  %c = tensor.mul %b, %a : tensor<2x3xf32>
  %d = tensor.neg %c : tensor<2x3xf32>
  return %d, %s : tensor<2x3xf32>, f32
}

// A donated argument that dies is updated in place and the result is tied to it: no
// out-parameter, no allocation.
// CHECK-LABEL: func.func @update(
// CHECK-SAME:      %[[P:.*]]: memref<4xf32> {avalon.donate, avalon.result = 0 : i64},
// CHECK-SAME:      %{{.*}}: memref<4xf32>) attributes {avalon.bufferized}
// CHECK-NOT:     memory.alloc
// CHECK:         arith.subf
// CHECK-NEXT:    memory.store %{{.*}}, %[[P]]
func.func @update(%p: tensor<4xf32> {avalon.donate}, %g: tensor<4xf32>) -> tensor<4xf32> {
  %n = tensor.sub %p, %g : tensor<4xf32>
  return %n : tensor<4xf32>
}

// Transposes and slices are views; returning an argument copies it into its out-parameter.
// CHECK-LABEL: func.func @views(
// CHECK-SAME:      %[[X:.*]]: memref<4x6xf32>, %[[E:.*]]: memref<3x4xf32> {avalon.out, avalon.result = 0 : i64},
// CHECK-SAME:      %[[R:.*]]: memref<4x6xf32> {avalon.out, avalon.result = 1 : i64})
// CHECK:         %[[T:.*]] = memory.transpose %[[X]] [1, 0] : memref<4x6xf32> to memref<6x4xf32, strided<[1, 6]>>
// CHECK:         %[[V:.*]] = memory.subview %[[T]][0, 0] [3, 4] [2, 1] : memref<6x4xf32, strided<[1, 6]>> to memref<3x4xf32, strided<[2, 6]>>
// CHECK:         memory.load %[[V]]
// CHECK:         memory.store %{{.*}}, %[[E]]
// CHECK:         memory.copy %[[X]], %[[R]] : memref<4x6xf32> to memref<4x6xf32>
func.func @views(%x: tensor<4x6xf32>) -> (tensor<3x4xf32>, tensor<4x6xf32>) {
  %t = tensor.transpose %x, permutation = [1, 0] : tensor<4x6xf32> -> tensor<6x4xf32>
  %s = tensor.slice %t, start = [0, 0], limit = [6, 4], stride = [2, 1] : tensor<6x4xf32> -> tensor<3x4xf32>
  %e = tensor.exp %s : tensor<3x4xf32>
  return %e, %x : tensor<3x4xf32>, tensor<4x6xf32>
}

// -----

// Tensors carried by loops are not supported: a located error, not a crash.
func.func @nested(%x: tensor<2xf32>, %n: index) -> tensor<2xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = loop.for %i = %c0 to %n step %c1 iter_args(%a = %x) -> (tensor<2xf32>) {
    // expected-error @below {{tensor values inside nested regions cannot be bufferized}}
    %b = tensor.exp %a : tensor<2xf32>
    loop.yield %b : tensor<2xf32>
  }
  return %r : tensor<2xf32>
}
