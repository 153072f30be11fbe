// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(generalize,fuse-elementwise,canonicalize,cse))' \
// RUN:   | filecheck %s
// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(generalize,fuse-elementwise{allow-recompute=true},canonicalize,cse))' \
// RUN:   | filecheck %s --check-prefix=RECOMPUTE
// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(generalize,fuse-elementwise))' \
// RUN:   --pass-statistics -o /dev/null 2>&1 | filecheck %s --check-prefix=STATS

// sum(exp(x - broadcast(m))) is one loop nest: the broadcast becomes a projected read of %m
// and the subtraction and exponential run inside the reduction's body.
// CHECK-LABEL: func.func @softmax_denominator
// CHECK-NEXT:    %[[Z:.*]] = tensor.constant dense<0.0> : tensor<4xf32>
// CHECK-NEXT:    %[[R:.*]] = tensor.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%arg0, %arg1 : tensor<4x3xf32>, tensor<4xf32>) outs(%[[Z]] : tensor<4xf32>) {
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %[[M:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT:      %[[D:.*]] = arith.subf %[[X]], %[[M]] : f32
// CHECK-NEXT:      %[[E:.*]] = math.exp %[[D]] : f32
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[ACC]], %[[E]] : f32
// CHECK-NEXT:      tensor.yield %[[S]] : f32
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[R]] : tensor<4xf32>
func.func @softmax_denominator(%x: tensor<4x3xf32>, %m: tensor<4xf32>) -> tensor<4xf32> {
  %b = tensor.broadcast %m, dims = [0] : tensor<4xf32> -> tensor<4x3xf32>
  %d = tensor.sub %x, %b : tensor<4x3xf32>
  %e = tensor.exp %d : tensor<4x3xf32>
  %s = tensor.reduce sum, %e, dims = [1] : tensor<4x3xf32> -> tensor<4xf32>
  return %s : tensor<4xf32>
}

// A producer with two consumers is kept by default: fusing would compute it twice.
// CHECK-LABEL: func.func @two_consumers
// CHECK:         %[[P:.*]] = tensor.generic
// CHECK:           arith.addf
// CHECK:         tensor.generic {{.*}} ins(%[[P]], %arg0
// CHECK:           arith.mulf
// CHECK:         tensor.generic {{.*}} ins(%[[P]], %arg1
// CHECK:           arith.subf
// With allow-recompute a producer this cheap is copied into each consumer.
// RECOMPUTE-LABEL: func.func @two_consumers
// RECOMPUTE:         tensor.generic {{.*}} ins(%arg0, %arg1
// RECOMPUTE-NEXT:    ^bb0
// RECOMPUTE-NEXT:      arith.addf
// RECOMPUTE-NEXT:      arith.mulf
// RECOMPUTE:         tensor.generic {{.*}} ins(%arg0, %arg1
// RECOMPUTE-NEXT:    ^bb0
// RECOMPUTE-NEXT:      arith.addf
// RECOMPUTE-NEXT:      arith.subf
// RECOMPUTE-NOT:     tensor.generic
func.func @two_consumers(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %p = tensor.add %x, %y : tensor<4xf32>
  %a = tensor.mul %p, %x : tensor<4xf32>
  %b = tensor.sub %p, %y : tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}

// STATS:      FuseElementwise (fuse-elementwise)
// STATS-NEXT:   (S) 3 num-fused - producers fused into a consumer
