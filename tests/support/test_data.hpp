#pragma once
// A file of tests/data (SPLITMAIL_TEST_DATA) read whole; a missing file fails the test that
// asked (ADD_FAILURE) and gives "".
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace splitmail::test {

inline std::string test_data(const std::string& relative) {
    std::ifstream in(std::string(SPLITMAIL_TEST_DATA) + "/" + relative, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (!in) ADD_FAILURE() << "cannot read test data " << relative;
    return s.str();
}

} // namespace splitmail::test
