// A small multilayer perceptron written with func, arith and vector ops:
//   h = relu(W1 x + b1),   y = w2 . h + h[0] + b2
// with 4 input features, 2 hidden units, 1 output and a residual connection from hidden
// unit 0. It is written the way a naive front end emits code: duplicated constants and
// subexpressions, a dead value and arithmetic on constants, so that canonicalize and cse
// have work to do:
//   avalon-opt --pass-pipeline='builtin.module(canonicalize,cse)' examples/mlp.mlir
func.func @mlp(%x: vector<4xf32>) -> f32 {
  // Hidden layer: one dot product per unit, plus bias, then relu = max(s, 0).
  %w1_0 = arith.constant dense<[0.5, -0.25, 1.0, 0.75]> : vector<4xf32>
  %w1_1 = arith.constant dense<[-1.0, 0.5, 0.25, 2.0]> : vector<4xf32>
  %b1_0 = arith.constant 0.125 : f32
  %b1_1 = arith.constant -0.25 : f32
  %zero = arith.constant 0.0 : f32
  %p0 = arith.mulf %w1_0, %x : vector<4xf32>
  %d0 = vector.reduction <add>, %p0 : vector<4xf32> into f32
  %s0 = arith.addf %d0, %b1_0 : f32
  %h0 = arith.maximumf %s0, %zero : f32
  %p1 = arith.mulf %w1_1, %x : vector<4xf32>
  %d1 = vector.reduction <add>, %p1 : vector<4xf32> into f32
  %s1 = arith.addf %d1, %b1_1 : f32
  %zero_again = arith.constant 0.0 : f32
  %h1 = arith.maximumf %s1, %zero_again : f32
  // Output layer: w2 = [2.0, -0.5], b2 = 0.5 + 0.5.
  %w2_0 = arith.constant 2.0 : f32
  %w2_1 = arith.constant -0.5 : f32
  %o0 = arith.mulf %h0, %w2_0 : f32
  %o1 = arith.mulf %h1, %w2_1 : f32
  %sum = arith.addf %o0, %o1 : f32
  %half = arith.constant 0.5 : f32
  %b2 = arith.addf %half, %half : f32
  %unused = arith.mulf %sum, %sum : f32
  %one = arith.constant 1.0 : f32
  %scaled = arith.mulf %sum, %one : f32
  // Residual connection: relu(s0) is emitted a second time instead of reusing %h0.
  %h0_again = arith.maximumf %s0, %zero_again : f32
  %res = arith.addf %scaled, %h0_again : f32
  %y = arith.addf %res, %b2 : f32
  return %y : f32
}
