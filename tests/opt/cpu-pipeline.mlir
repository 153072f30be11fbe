// RUN: avalon-opt %s --pass-pipeline=cpu-pipeline | filecheck %s
// RUN: avalon-opt %s --pass-pipeline=cpu-pipeline --print-ir-after-all 2>&1 >/dev/null \
// RUN:   | filecheck %s --check-prefix=STAGES

// A dense layer: the matmul becomes a register-blocked vector nest: tiles of 4 rows x 16
// columns (two vector<8xf32> accumulators per row) carried through the k loop and stored
// once (no zero fill: the accumulators start at zero); bias, relu and the store into the
// out-parameter are fused into one nest.
// CHECK-LABEL: func.func @layer(
// CHECK-SAME:      %[[X:[a-z0-9]+]]: memref<8x16xf32>, %[[W:[a-z0-9]+]]: memref<16x32xf32>, %[[B:[a-z0-9]+]]: memref<32xf32>,
// CHECK-SAME:      %[[OUT:[a-z0-9]+]]: memref<8x32xf32> {avalon.out, avalon.result = 0 : i64}) attributes {avalon.bufferized}
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0.0 : f32
// CHECK:         %[[ACC:.*]] = memory.alloc() {alignment = 64 : i64} : memref<8x32xf32>
// CHECK:         %[[Z8:.*]] = vector.broadcast %[[ZERO]] : f32 to vector<8xf32>
// CHECK:         loop.parallel (%[[MT:.*]], %[[NT:.*]]) =
// CHECK:           %{{.*}}:8 = loop.for %[[K:[a-z0-9]+]] = {{.*}} iter_args(%[[C0:[a-z0-9]+]] = %[[Z8]]
// CHECK:             %[[A:.*]] = memory.load %[[X]][%{{.*}}, %[[K]]]
// CHECK:             %[[BV:.*]] = vector.load %[[W]][%[[K]], %{{.*}}] : memref<16x32xf32>, vector<8xf32>
// CHECK:             %[[AV:.*]] = vector.broadcast %[[A]] : f32 to vector<8xf32>
// CHECK-NEXT:        %[[P:.*]] = arith.mulf %[[AV]], %[[BV]] : vector<8xf32>
// CHECK-NEXT:        %{{.*}} = arith.addf %[[C0]], %[[P]] : vector<8xf32>
// CHECK:             loop.yield
// CHECK-COUNT-8:   vector.store %{{.*}}, %[[ACC]]
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
