// RUN: avalon-opt --list-passes | filecheck %s
// CHECK:      Passes:
// CHECK:        canonicalize  (runs on any op)
// CHECK-NEXT:       Fold ops
// CHECK:            max-iterations=<int> (default 10)
// CHECK:        cse  (runs on any op)
// CHECK:      Named pipelines:
