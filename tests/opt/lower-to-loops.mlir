// RUN: avalon-opt %s --pass-pipeline='builtin.module(bufferize,func.func(lower-to-loops),canonicalize)' \
// RUN:   | filecheck %s
// RUN: not avalon-opt %s --pass-pipeline='builtin.module(func.func(lower-to-loops))' 2>&1 \
// RUN:   | filecheck %s --check-prefix=ORDER

// bufferize writes a pad as a fill of the destination and a copy into the strided box the
// input occupies; lower-to-loops turns both into loop nests over loads and stores.
// CHECK-LABEL: func.func @pad(
// CHECK-SAME:      %[[X:.*]]: memref<2x3xf32>, %[[V:.*]]: memref<f32>, %[[OUT:.*]]: memref<4x7xf32> {avalon.out, avalon.result = 0 : i64})
// CHECK:         %[[PAD:.*]] = memory.load %[[V]][] : memref<f32>
// CHECK:         loop.parallel
// CHECK-NEXT:      memory.store %[[PAD]], %[[OUT]]
// CHECK:         %[[BOX:.*]] = memory.subview %[[OUT]][1, 0] [2, 3] [1, 2] : memref<4x7xf32> to memref<2x3xf32, strided<[7, 2], offset: 7>>
// CHECK:         loop.parallel (%[[I:.*]], %[[J:.*]]) =
// CHECK-NEXT:      %[[E:.*]] = memory.load %[[X]][%[[I]], %[[J]]]
// CHECK-NEXT:      memory.store %[[E]], %[[BOX]][%[[I]], %[[J]]]
// CHECK-NOT:     memory.fill
// CHECK-NOT:     memory.copy
// CHECK:         return
func.func @pad(%x: tensor<2x3xf32>, %v: tensor<f32>) -> tensor<4x7xf32> {
  %y = tensor.pad %x, %v, low = [1, 0], high = [1, 2], interior = [0, 1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<4x7xf32>
  return %y : tensor<4x7xf32>
}

// A copy into an out-parameter becomes a loop nest; a copy between two ordinary arguments
// (which may alias) stays a memory.copy, whose semantics are overlap-safe.
// CHECK-LABEL: func.func @copies(
// CHECK:         %[[T:.*]] = memory.transpose
// CHECK:         loop.parallel
// CHECK-NEXT:      memory.load %[[T]]
// CHECK-NEXT:      memory.store
// CHECK:         memory.copy %arg0, %arg1 : memref<2x3xf32> to memref<2x3xf32>
func.func @copies(%a: memref<2x3xf32>, %b: memref<2x3xf32>, %o: memref<3x2xf32> {avalon.out}) {
  %t = memory.transpose %a [1, 0] : memref<2x3xf32> to memref<3x2xf32, strided<[1, 3]>>
  memory.copy %t, %o : memref<3x2xf32, strided<[1, 3]>> to memref<3x2xf32>
  memory.copy %a, %b : memref<2x3xf32> to memref<2x3xf32>
  return
}

// lower-to-loops runs after bufferize.
// ORDER: error: 'tensor.pad' still works on tensors: run 'bufferize' before 'lower-to-loops'
// ORDER-NOT: Traceback
