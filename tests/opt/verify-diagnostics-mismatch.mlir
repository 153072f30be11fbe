// Missing and unexpected diagnostics are both reported, with locations, and fail the run.
// RUN: not avalon-opt %s --verify-diagnostics 2>&1 | filecheck %s
// CHECK: verify-diagnostics-mismatch.mlir:9:10: error: unexpected error: use of undeclared SSA value name '%nope'
// CHECK: verify-diagnostics-mismatch.mlir:8:6: error: expected error "something else" was not produced
// CHECK-NOT: Traceback

func.func @f() -> i32 {
  // expected-error @+2 {{something else}}
  return %nope : i32
}
