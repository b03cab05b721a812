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

// Found by ddns_desec_json_fuzz: a time too large for int64 is read as a JSON float, and
// converting it was undefined (UBSan: "outside the range of representable values of type
// 'long'"). Any number is clamped now; the times land in the documented range (up to 2100).
TEST_F(DdnsStateTest, TimesOutOfRangeAreClampedNotUndefined) {
    const auto s = state_from_json(
        R"({"version":1,"writes_ms":[17000060000000,-9223372036854775807,18446744073709551615],)"
        R"("damping":{"penalty":0e400,"updated_ms":92123372036854775807},)"
        R"("not_before_ms":18446744073709551615,"last_error":"x","last_error_ms":-1e300})");
    ASSERT_TRUE(s) << s.error();
    const auto year_2100 = time_point(std::chrono::milliseconds(4'102'444'800'000));
    ASSERT_EQ(s->writes.size(), 3u);
    EXPECT_EQ(s->writes[0], year_2100);
    EXPECT_EQ(s->writes[1], time_point{});
    EXPECT_EQ(s->writes[2], year_2100);
    EXPECT_EQ(s->damping.updated, year_2100);
    EXPECT_EQ(s->not_before, year_2100);
    EXPECT_EQ(s->last_error_at, time_point{});
}

} // namespace
} // namespace splitmail::ddns
