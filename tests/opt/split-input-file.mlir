// RUN: avalon-opt %s --split-input-file --verify-diagnostics \
// RUN:   --pass-pipeline='builtin.module(canonicalize)' | filecheck %s

// Each chunk is parsed and transformed on its own; outputs are separated like the input,
// and a chunk that fails (here: expectedly) prints nothing.
// CHECK:       func.func @first
// CHECK-NEXT:    %[[C:.*]] = arith.constant 5 : i32
// CHECK-NEXT:    return %[[C]]
// CHECK:       // -----
// CHECK:       func.func @second
// CHECK-NEXT:    return %arg0 : f32
// CHECK:       // -----
// CHECK-NOT:   func.func
func.func @first() -> i32 {
  %a = arith.constant 2 : i32
  %b = arith.constant 3 : i32
  %c = arith.addi %a, %b : i32
  return %c : i32
}

// -----

func.func @second(%x: f32) -> f32 {
  return %x : f32
}

// -----
// A failing chunk does not stop the others, and its errors keep the file's line numbers.
// RUN: not avalon-opt %s --split-input-file 2>&1 >/dev/null | filecheck %s --check-prefix=ERR
// ERR: split-input-file.mlir:34:10: error: use of undeclared SSA value name '%nope'
// ERR-NEXT: return %nope : i32
func.func @third() -> i32 {
  // expected-error @+1 {{use of undeclared SSA value name '%nope'}}
  return %nope : i32
}
