// IR dumps go to stderr with MLIR-style headers; the output IR still goes to stdout.
// RUN: avalon-opt %s --pass-pipeline='builtin.module(canonicalize,func.func(cse))' \
// RUN:   --print-ir-before=cse --print-ir-after=cse -o /dev/null 2>&1 | filecheck %s
// CHECK:      // -----// IR Dump Before CSE (cse) //----- //
// CHECK-NEXT: func.func @f
// CHECK:        arith.muli
// CHECK:        arith.muli
// CHECK:      // -----// IR Dump After CSE (cse) //----- //
// CHECK-NEXT: func.func @f
// CHECK-NEXT:   arith.constant
// CHECK-NEXT:   arith.muli
// CHECK-NEXT:   arith.addi
// CHECK-NOT:  IR Dump

// RUN: avalon-opt %s --pass-pipeline='builtin.module(canonicalize,func.func(cse))' \
// RUN:   --print-ir-before-all --print-ir-after-all -o /dev/null 2>&1 \
// RUN:   | filecheck %s --check-prefix=ALL
// ALL: IR Dump Before Canonicalize (canonicalize)
// ALL: IR Dump After Canonicalize (canonicalize)
// ALL: IR Dump Before CSE (cse)
// ALL: IR Dump After CSE (cse)

// Unknown pass names in the print flags are errors.
// RUN: not avalon-opt %s --print-ir-after=csee 2>&1 | filecheck %s --check-prefix=BAD
// BAD: avalon-opt: error: --print-ir-after: unknown pass 'csee' (did you mean 'cse'?)
func.func @f(%x: i32) -> i32 {
  %c = arith.constant 2 : i32
  %a = arith.muli %x, %c : i32
  %b = arith.muli %x, %c : i32
  %s = arith.addi %a, %b : i32
  return %s : i32
}
