// RUN: avalon-opt %s --split-input-file --verify-diagnostics
// Verifier errors after parsing, matched by @+N, @-N, @above and @below.

func.func @f(%x: i32) -> i64 {
  // expected-error @below {{type of return operand 0 ('i32') doesn't match function result type ('i64')}}
  return %x : i32
}

// -----

func.func @g(%x: f32) -> f32 {
  %c = arith.constant 1 : i32
  %s = arith.addf %x, %c : f32
  // expected-error @-1 {{}}
  return %s : f32
}

// -----

func.func @h(%x: f32) -> f32 {
  return %x : f32
  %y = arith.negf %x : f32
  // expected-error @above {{block with no terminator, has 'arith.negf'}}
}
