// The one translation unit with Catch2's main(); every other file in tests/unit/ holds tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
