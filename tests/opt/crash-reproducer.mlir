// A pass that raises an unexpected exception gets a one-line report naming the pass, and a
// reproducer file that --run-reproducer replays with the recorded flags.
// RUN: not avalon-opt %s --load-pass-plugin=%S/plugins/failing_passes.py \
// RUN:   --pass-pipeline='builtin.module(canonicalize,test-crash)' \
// RUN:   --crash-reproducer=%t.repro.mlir 2>&1 | filecheck %s
// CHECK:      avalon-opt: error: pass 'test-crash' crashed on 'builtin.module' op: KeyError: 'no such attribute'
// CHECK-NEXT: avalon-opt: reproducer written to {{.*}}.repro.mlir (replay with: avalon-opt --run-reproducer {{.*}}.repro.mlir)
// CHECK-NOT:  Traceback

// RUN: cat %t.repro.mlir | filecheck %s --check-prefix=REPRO
// REPRO:      // avalon-opt crash reproducer: pass 'test-crash' crashed
// REPRO-NEXT: // configuration: '--pass-pipeline=builtin.module(canonicalize,test-crash)' --load-pass-plugin={{.*}}failing_passes.py
// REPRO:      func.func @victim

// RUN: not avalon-opt --run-reproducer %t.repro.mlir 2>&1 | filecheck %s --check-prefix=REPLAY
// REPLAY: avalon-opt: error: pass 'test-crash' crashed on 'builtin.module' op: KeyError

// --show-traceback adds the Python traceback of the crash.
// RUN: not avalon-opt %s --load-pass-plugin=%S/plugins/failing_passes.py --test-crash \
// RUN:   --crash-reproducer=%t.2.mlir --show-traceback 2>&1 | filecheck %s --check-prefix=TRACE
// TRACE: Traceback (most recent call last):
// TRACE: KeyError: 'no such attribute'
// TRACE: avalon-opt: error: pass 'test-crash' crashed
func.func @victim() {
  return
}
