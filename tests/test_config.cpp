#include <gtest/gtest.h>
#include "patchlearn/io/config.hpp"
