// Each registered pass is also a flag; flags are appended to the pipeline in order, and
// options go after '='. --dump-pass-pipeline prints the resulting pipeline on stderr.
// RUN: avalon-opt %s --cse --canonicalize='max-iterations=3' --dump-pass-pipeline -o /dev/null \
// RUN:   2>&1 | filecheck %s
// CHECK: builtin.module(cse,canonicalize{max-iterations=3})

// RUN: avalon-opt %s --pass-pipeline='canonicalize, func.func( cse )' --dump-pass-pipeline \
// RUN:   -o /dev/null 2>&1 | filecheck %s --check-prefix=CANON
// CANON: builtin.module(canonicalize,func.func(cse))

// Named pipelines (here one registered by a plugin) expand in place.
// RUN: avalon-opt %s --load-pass-plugin=%S/plugins/failing_passes.py \
// RUN:   --pass-pipeline='builtin.module(test-cleanup,symbol-dce)' --dump-pass-pipeline \
// RUN:   -o /dev/null 2>&1 | filecheck %s --check-prefix=NAMED
// NAMED: builtin.module(canonicalize,cse,symbol-dce)
func.func @f() {
  return
}
