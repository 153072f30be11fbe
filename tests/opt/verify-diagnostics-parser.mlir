// RUN: avalon-opt %s --split-input-file --verify-diagnostics
// Parser errors are matched against the annotations, chunk by chunk.

// expected-error @+1 {{custom op 'arith.bogus' is unknown}}
%0 = arith.bogus : f32

// -----

func.func @f(%x: i32) -> i32 {
  // expected-error @+1 {{use of undeclared SSA value name '%y'}}
  return %y : i32
}

// -----

func.func @g() {
  %c = arith.constant 1 : i32
  %c = arith.constant 2 : i32 // expected-error {{redefinition of SSA value '%c'}}
  return
}
