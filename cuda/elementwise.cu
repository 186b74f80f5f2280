// The one generic element-wise kernel (kernels/elementwise.hpp): a thread per index, each running
// the functor the CPU loop runs. Instantiated here for every functor of that header.
#include "common.cuh"

#include "patchlearn/kernels/elementwise.hpp"

namespace patchlearn::kernels::cuda {
namespace {

template <class F>
__global__ void k_for_each_index(index_t count, F f) {
  const index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (i < count) f(i);
}

}  // namespace

template <class F>
void for_each_index(index_t count, const F& f) {
  if (count == 0) return;
  PL_LAUNCH(k_for_each_index<F>, blocks_for(count), kBlock, 0)(count, f);
  check_launch(F::name);
}

template void for_each_index(index_t, const Axpby&);
template void for_each_index(index_t, const LiftCoefficients&);
template void for_each_index(index_t, const LiftRise&);
template void for_each_index(index_t, const PatchEstimates&);
template void for_each_index(index_t, const StoreSnapshot&);
template void for_each_index(index_t, const LiftCorrector&);
template void for_each_index(index_t, const TrBdf2Error&);
template void for_each_index(index_t, const ChebyshevStart&);
template void for_each_index(index_t, const ChebyshevStep&);
template void for_each_index(index_t, const RkcStageUpdate&);
template void for_each_index(index_t, const WindowMeans&);
template void for_each_index(index_t, const StageSum&);
template void for_each_index(index_t, const ScaledError&);
template void for_each_index(index_t, const ShiftedIdentity&);
template void for_each_index(index_t, const LuFactor&);
template void for_each_index(index_t, const LuSolve&);
template void for_each_index(index_t, const PerturbNode&);
template void for_each_index(index_t, const JacobianColumn&);

}  // namespace patchlearn::kernels::cuda
