// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(generalize))' | filecheck %s
// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(generalize{ops=tensor.add}))' \
// RUN:   | filecheck %s --check-prefix=ONLY
// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(generalize))' --pass-statistics \
// RUN:   -o /dev/null 2>&1 | filecheck %s --check-prefix=STATS
// RUN: not avalon-opt %s --pass-pipeline='builtin.module(func.func(generalize{ops=tensor.conv}))' \
// RUN:   2>&1 | filecheck %s --check-prefix=BAD

// Broadcasts read their operand through a projection; elementwise ops get identity maps and
// a scalar body; every generic writes into a fresh tensor.empty.
// CHECK-LABEL: func.func @bias_relu
// CHECK:         %[[E0:.*]] = tensor.empty : tensor<2x3xf32>
// CHECK-NEXT:    %[[B:.*]] = tensor.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%arg1 : tensor<3xf32>) outs(%[[E0]] : tensor<2x3xf32>) {
// CHECK-NEXT:    ^bb0(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      tensor.yield %[[IN]] : f32
// CHECK:         %[[A:.*]] = tensor.generic {{.*}} ins(%arg0, %[[B]] : tensor<2x3xf32>, tensor<2x3xf32>)
// CHECK:           arith.addf
// CHECK:         tensor.generic {{.*}} ins(%[[A]], %{{.*}} : tensor<2x3xf32>, tensor<2x3xf32>)
// CHECK:           arith.maximumf
// CHECK-NOT:     tensor.add
// CHECK-NOT:     tensor.max
// ONLY-LABEL:  func.func @bias_relu
// ONLY:          tensor.broadcast
// ONLY:          tensor.generic
// ONLY:            arith.addf
// ONLY:          tensor.max
func.func @bias_relu(%x: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %bb = tensor.broadcast %b, dims = [1] : tensor<3xf32> -> tensor<2x3xf32>
  %y = tensor.add %x, %bb : tensor<2x3xf32>
  %zero = tensor.constant dense<0.0> : tensor<2x3xf32>
  %r = tensor.max %y, %zero : tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// A reduction accumulates into a constant holding the identity of its kind; ops without a
// generic form (tensor.reshape) stay as they are.
// CHECK-LABEL: func.func @row_sum
// CHECK-NEXT:    %[[Z:.*]] = tensor.constant dense<0.0> : tensor<2xf32>
// CHECK-NEXT:    %[[S:.*]] = tensor.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<2x3xf32>) outs(%[[Z]] : tensor<2xf32>) {
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT:      %[[SUM:.*]] = arith.addf %[[ACC]], %[[X]] : f32
// CHECK-NEXT:      tensor.yield %[[SUM]] : f32
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[R:.*]] = tensor.reshape %arg0 : tensor<2x3xf32> -> tensor<6xf32>
// CHECK-NEXT:    return %[[S]], %[[R]] : tensor<2xf32>, tensor<6xf32>
func.func @row_sum(%x: tensor<2x3xf32>) -> (tensor<2xf32>, tensor<6xf32>) {
  %s = tensor.reduce sum, %x, dims = [1] : tensor<2x3xf32> -> tensor<2xf32>
  %f = tensor.reshape %x : tensor<2x3xf32> -> tensor<6xf32>
  return %s, %f : tensor<2xf32>, tensor<6xf32>
}

// STATS:      Generalize (generalize)
// STATS-NEXT:   (S) 4 num-generalized - named ops rewritten to tensor.generic

// BAD: generalize: no generic form for 'tensor.conv'; ops with one: {{.*}}tensor.add
