// The IR is verified after every pass: a pass that breaks it is named in the error.
// RUN: not avalon-opt %s --load-pass-plugin=%S/plugins/failing_passes.py --test-break-ir 2>&1 \
// RUN:   | filecheck %s
// CHECK: error: operand #1 does not dominate this use
// CHECK: note: IR failed to verify after pass 'test-break-ir' on 'func.func' op

// With --no-verify-each the broken IR is printed as it is.
// RUN: avalon-opt %s --load-pass-plugin=%S/plugins/failing_passes.py --test-break-ir \
// RUN:   --no-verify-each | filecheck %s --check-prefix=NOVERIFY
// NOVERIFY:      arith.addi
// NOVERIFY-NEXT: arith.constant 3
// NOVERIFY-NEXT: return
func.func @f(%x: i32) -> i32 {
  %c = arith.constant 3 : i32
  %a = arith.addi %x, %c : i32
  return %a : i32
}
