#include "splitmail/ddns/state.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace splitmail::ddns {
namespace {

namespace fs = std::filesystem;

struct DdnsStateTest : ::testing::Test {
    fs::path dir;
    void SetUp() override {
        char tmpl[] = "/tmp/ddns-state-XXXXXX";
        dir = mkdtemp(tmpl);
    }
    void TearDown() override { fs::remove_all(dir); }
};

TEST_F(DdnsStateTest, MissingFileIsEmptyState) {
    auto s = load_state(dir / "none.json");
    ASSERT_TRUE(s);
    EXPECT_EQ(*s, state{});
}

TEST_F(DdnsStateTest, RoundTrip) {
    state s;
    s.domain = "home.example";
    s.published["/A"] = {"81.2.69.160"};
    s.published["mail/AAAA"] = {"2a01:4f8::1"};
    s.writes = {time_point(std::chrono::milliseconds(1700000000123)),
                time_point(std::chrono::milliseconds(1700000001456))};
    s.damping = {2.5, time_point(std::chrono::milliseconds(1700000001456)), true};
    s.not_before = time_point(std::chrono::milliseconds(1700000100000));
    s.last_error = "updating the records failed: HTTP 503";
    s.last_error_at = time_point(std::chrono::milliseconds(1700000002000));
    auto file = dir / "state.json";
    ASSERT_TRUE(save_state(file, s));
    auto back = load_state(file);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, s);
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_FALSE(fs::exists(dir / "state.json.tmp"));
}

TEST_F(DdnsStateTest, CorruptFileIsAnErrorNotACrash) {
    for (const char* bad :
         {"", "{", "[]", R"({"version":2})", R"({"version":1,"published":{"x":1}})"}) {
        std::ofstream(dir / "bad.json") << bad;
        auto s = load_state(dir / "bad.json");
        EXPECT_FALSE(s) << bad;
    }
}

} // namespace
} // namespace splitmail::ddns
