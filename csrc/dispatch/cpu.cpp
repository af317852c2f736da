// CPU backend: every kernel instantiated with the OpenMP executor.
#include "dispatch/instances.h"

GN_FOR_EACH_INSTANCE(GN_NOTHING, gn::CpuExec)
GN_CPU_ONLY_INSTANCES(GN_NOTHING)
