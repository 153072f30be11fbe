// RUN: avalon-opt %s --pass-pipeline=cpu-pipeline | filecheck %s
// RUN: avalon-opt %s --pass-pipeline=cpu-pipeline --print-ir-after-all 2>&1 >/dev/null \
// RUN:   | filecheck %s --check-prefix=STAGES

// A dense layer: the matmul becomes loops m, k, n with n innermost (contiguous in the
// weights and the accumulator, so it vectorizes) accumulating into a zero-filled buffer;
// bias, relu and the store into the out-parameter are fused into one nest.
// CHECK-LABEL: func.func @layer(
// CHECK-SAME:      %[[X:[a-z0-9]+]]: memref<8x16xf32>, %[[W:[a-z0-9]+]]: memref<16x32xf32>, %[[B:[a-z0-9]+]]: memref<32xf32>,
// CHECK-SAME:      %[[OUT:[a-z0-9]+]]: memref<8x32xf32> {avalon.out, avalon.result = 0 : i64}) attributes {avalon.bufferized}
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0.0 : f32
// CHECK:         %[[ACC:.*]] = memory.alloc() {alignment = 64 : i64} : memref<8x32xf32>
// CHECK:         loop.parallel
// CHECK-NEXT:      memory.store %[[ZERO]], %[[ACC]]
// CHECK:         loop.parallel (%[[M:.*]]) =
// CHECK-NEXT:      loop.for %[[K:[a-z0-9]+]] =
// CHECK-NEXT:        %[[A:.*]] = memory.load %[[X]][%[[M]], %[[K]]]
// CHECK-NEXT:        loop.parallel (%[[N:.*]]) =
// CHECK-NEXT:          %[[C:.*]] = memory.load %[[ACC]][%[[M]], %[[N]]]
// CHECK-NEXT:          %[[BV:.*]] = memory.load %[[W]][%[[K]], %[[N]]]
// CHECK-NEXT:          %[[P:.*]] = arith.mulf %[[A]], %[[BV]] : f32
// CHECK-NEXT:          %[[S:.*]] = arith.addf %[[C]], %[[P]] : f32
// CHECK-NEXT:          memory.store %[[S]], %[[ACC]][%[[M]], %[[N]]]
// CHECK:         loop.parallel (%[[I:.*]], %[[J:.*]]) =
// CHECK:           arith.addf
// CHECK-NEXT:      %[[R:.*]] = arith.maximumf %{{.*}}, %[[ZERO]] : f32
// CHECK-NEXT:      memory.store %[[R]], %[[OUT]][%[[I]], %[[J]]]
// CHECK:         memory.dealloc %[[ACC]]
// CHECK-NEXT:    return
// CHECK-NOT:   tensor.
func.func @layer(%x: tensor<8x16xf32>, %w: tensor<16x32xf32>, %b: tensor<32xf32>) -> tensor<8x32xf32> {
  %h = tensor.matmul %x, %w : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
  %bb = tensor.broadcast %b, dims = [1] : tensor<32xf32> -> tensor<8x32xf32>
  %y = tensor.add %h, %bb : tensor<8x32xf32>
  %zero = tensor.constant dense<0.0> : tensor<8x32xf32>
  %r = tensor.max %y, %zero : tensor<8x32xf32>
  return %r : tensor<8x32xf32>
}

// STAGES:      IR Dump After Canonicalize (canonicalize)
// STAGES:      IR Dump After CSE (cse)
// STAGES:      IR Dump After Generalize (generalize)
// STAGES:      IR Dump After FuseElementwise (fuse-elementwise)
// STAGES:      IR Dump After Canonicalize (canonicalize)
// STAGES:      IR Dump After CSE (cse)
// STAGES:      IR Dump After Bufferize (bufferize)
// STAGES:      IR Dump After LowerToLoops (lower-to-loops)
// STAGES:      IR Dump After Canonicalize (canonicalize)
// STAGES:      IR Dump After CSE (cse)
// STAGES:      IR Dump After Hoist (hoist)
// STAGES:      IR Dump After PlanMemory (plan-memory)
// STAGES:      IR Dump After Canonicalize (canonicalize)
// STAGES:      IR Dump After CSE (cse)
