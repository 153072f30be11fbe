// The autodiff pass adds @<func>_grad next to the function; canonicalize and cse then fold the
// seed of ones away. Differentiating the gradient's result #1 gives a second derivative.
// RUN: avalon-opt %s --pass-pipeline='builtin.module(autodiff{func=square_sum},canonicalize,cse)' \
// RUN:   | filecheck %s --check-prefix=GRAD
// GRAD-LABEL: func.func @square_sum_grad(%arg0: tensor<4xf32>) -> (tensor<f32>, tensor<4xf32>)
// GRAD-NEXT:    %[[SQ:.*]] = tensor.mul %arg0, %arg0 : tensor<4xf32>
// GRAD-NEXT:    %[[S:.*]] = tensor.reduce sum, %[[SQ]], dims = [0] : tensor<4xf32> -> tensor<f32>
// GRAD-NEXT:    %[[G:.*]] = tensor.add %arg0, %arg0 : tensor<4xf32>
// GRAD-NEXT:    return %[[S]], %[[G]] : tensor<f32>, tensor<4xf32>

// RUN: avalon-opt %s --pass-pipeline='builtin.module(autodiff{func=square_sum},autodiff{func=square_sum_grad result=1 name=second},canonicalize,cse)' \
// RUN:   | filecheck %s --check-prefix=SECOND
// SECOND-LABEL: func.func @second(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// SECOND-DAG:     %[[TWO:.*]] = tensor.constant dense<2.0> : tensor<4xf32>
// SECOND-DAG:     %[[G:.*]] = tensor.add %arg0, %arg0 : tensor<4xf32>
// SECOND:         return %[[G]], %[[TWO]] : tensor<4xf32>, tensor<4xf32>

// With seed=argument the cotangent is a new last argument (a vector-Jacobian product);
// integer arguments are not differentiated and their uses carry no gradient.
// RUN: avalon-opt %s --pass-pipeline='builtin.module(autodiff{func=scale wrt=0 seed=argument name=scale_vjp},canonicalize)' \
// RUN:   | filecheck %s --check-prefix=VJP
// VJP-LABEL: func.func @scale_vjp(%arg0: tensor<4xf32>, %arg1: tensor<4xi32>, %arg2: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// VJP:         %[[C:.*]] = tensor.cast %arg1 : tensor<4xi32> to tensor<4xf32>
// VJP:         %[[Y:.*]] = tensor.mul %arg0, %[[C]] : tensor<4xf32>
// VJP-NEXT:    %[[G:.*]] = tensor.mul %arg2, %[[C]] : tensor<4xf32>
// VJP-NEXT:    return %[[Y]], %[[G]] : tensor<4xf32>, tensor<4xf32>

// RUN: not avalon-opt %s --pass-pipeline='builtin.module(autodiff{func=scale wrt=1})' 2>&1 \
// RUN:   | filecheck %s --check-prefix=INT
// INT: autodiff.mlir:[[# @LINE + 12]]:1: error: argument #1 has integer type tensor<4xi32>; only float arguments can be differentiated
// INT-NOT: Traceback

// RUN: not avalon-opt %s --pass-pipeline='builtin.module(autodiff{func=caller})' 2>&1 \
// RUN:   | filecheck %s --check-prefix=CALL
// CALL: autodiff.mlir:[[# @LINE + 14]]:8: error: no VJP rule for 'func.call' (run 'inline' before autodiff)
func.func @square_sum(%x: tensor<4xf32>) -> tensor<f32> {
  %y = tensor.mul %x, %x : tensor<4xf32>
  %s = tensor.reduce sum, %y, dims = [0] : tensor<4xf32> -> tensor<f32>
  return %s : tensor<f32>
}

func.func @scale(%x: tensor<4xf32>, %n: tensor<4xi32>) -> tensor<4xf32> {
  %c = tensor.cast %n : tensor<4xi32> to tensor<4xf32>
  %y = tensor.mul %x, %c : tensor<4xf32>
  return %y : tensor<4xf32>
}

func.func @caller(%x: tensor<4xf32>) -> tensor<f32> {
  %r = func.call @square_sum(%x) : (tensor<4xf32>) -> tensor<f32>
  return %r : tensor<f32>
}
