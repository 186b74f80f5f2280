// Solves the paper's 2D cell problem through the installed headers and library.
#include <cstdio>

#include "patchlearn/homog/cell2d.hpp"

int main() {
  using namespace patchlearn;
  const auto D = effective_tensor(Lattice2D(KappaTables::paper(), BondPlacement::Reference, 0.01, 13));
  std::printf("%.5f %.5f %.5f\n", D.xx, D.xy, D.yy);
  return (D.xx > 1.33996 && D.xx < 1.33998) ? 0 : 1;
}
