// --timing reports wall time per pass (list or tree); --pass-statistics reports counters.
// RUN: avalon-opt %s --pass-pipeline='builtin.module(canonicalize,func.func(cse))' --timing \
// RUN:   -o /dev/null 2>&1 | filecheck %s --check-prefix=LIST
// LIST:      ... Execution time report ...
// LIST:      Total Execution Time: {{[0-9.]+}} seconds
// LIST:      ----Wall Time----  ----Name----
// LIST-DAG:  {{[0-9.]+}} ({{ *[0-9.]+}}%)  Parser
// LIST-DAG:  {{[0-9.]+}} ({{ *[0-9.]+}}%)  Canonicalize (canonicalize)
// LIST-DAG:  {{[0-9.]+}} ({{ *[0-9.]+}}%)  CSE (cse)
// LIST-DAG:  {{[0-9.]+}} ({{ *[0-9.]+}}%)  Verifier
// LIST-DAG:  {{[0-9.]+}} ({{ *[0-9.]+}}%)  Output
// LIST:      {{[0-9.]+}} (100.0%)  Total

// RUN: avalon-opt %s --pass-pipeline='builtin.module(canonicalize,func.func(cse))' --timing \
// RUN:   --timing-display=tree -o /dev/null 2>&1 | filecheck %s --check-prefix=TREE
// TREE:      %)  Parser
// TREE-NEXT: %)  Canonicalize (canonicalize)
// TREE-NEXT: %)    (verify)
// TREE-NEXT: %)  'func.func' Pipeline
// TREE-NEXT: %)    CSE (cse)
// TREE-NEXT: %)      (verify)
// TREE-NEXT: %)  Output
// TREE-NEXT: (100.0%)  Total

// RUN: avalon-opt %s --pass-pipeline='builtin.module(canonicalize,func.func(cse))' \
// RUN:   --pass-statistics -o /dev/null 2>&1 | filecheck %s --check-prefix=STATS
// STATS:      ... Pass statistics report ...
// STATS:      Canonicalize (canonicalize)
// STATS:        (S) 1 num-folded
// STATS:      'func.func' Pipeline
// STATS-NEXT:   CSE (cse)
// STATS-NEXT:     (S) 1 num-cse'd

// RUN: avalon-opt %s --pass-pipeline='builtin.module(canonicalize,func.func(cse))' \
// RUN:   --pass-statistics --pass-statistics-display=list -o /dev/null 2>&1 \
// RUN:   | filecheck %s --check-prefix=SLIST
// SLIST:      CSE (cse)
// SLIST-NEXT:   (S) 1 num-cse'd
func.func @f(%x: i32) -> i32 {
  %c2 = arith.constant 2 : i32
  %c3 = arith.constant 3 : i32
  %c5 = arith.addi %c2, %c3 : i32
  %a = arith.muli %x, %c5 : i32
  %b = arith.muli %x, %c5 : i32
  %s = arith.addi %a, %b : i32
  return %s : i32
}
