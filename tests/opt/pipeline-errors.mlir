// Pipeline mistakes are located diagnostics that quote the pipeline with a caret.
// RUN: not avalon-opt %s --pass-pipeline='builtin.module(canonicalise)' 2>&1 \
// RUN:   | filecheck %s --check-prefix=UNKNOWN
// UNKNOWN:      <pass-pipeline>:1:16: error: unknown pass or pipeline 'canonicalise' (did you mean 'canonicalize'?); registered: {{.*}}cse
// UNKNOWN-NEXT: builtin.module(canonicalise)
// UNKNOWN-NEXT: {{^ {15}\^$}}
// UNKNOWN-NOT:  Traceback

// RUN: not avalon-opt %s --pass-pipeline='canonicalize{max-iteration=3}' 2>&1 \
// RUN:   | filecheck %s --check-prefix=OPTION
// OPTION: <pass-pipeline>:1:14: error: pass 'canonicalize' has no option 'max-iteration'; valid options: {{.*}}max-iterations

// RUN: not avalon-opt %s --pass-pipeline='canonicalize{max-iterations=many}' 2>&1 \
// RUN:   | filecheck %s --check-prefix=VALUE
// VALUE: <pass-pipeline>:1:29: error: pass 'canonicalize': option 'max-iterations' expects an int, got 'many'

// RUN: not avalon-opt %s --pass-pipeline='builtin.module(func.func(cse)' 2>&1 \
// RUN:   | filecheck %s --check-prefix=SYNTAX
// SYNTAX: <pass-pipeline>:1:30: error: expected ',' or ')' in pipeline, found end of pipeline

// RUN: not avalon-opt %s --pass-pipeline=cse --canonicalize 2>&1 \
// RUN:   | filecheck %s --check-prefix=BOTH
// BOTH: avalon-opt: error: use either --pass-pipeline or individual pass flags, not both
func.func @f() {
  return
}
