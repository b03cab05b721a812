// `splitmail queue --config relay.toml`: the spool directory comes from relay.toml read through
// the relay's own settings table, so a file that relies on the default spool finds the spool
// the relay uses (issue 13: the CLI's own reader said "spool.dir: not set").
#include "commands/queue.hpp"
#include "splitmail/config/relay.hpp"
#include "splitmail/durable/committer.hpp"
#include "splitmail/queue/spool.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace splitmail;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "queue-cli-XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~temp_dir() { fs::remove_all(path); }
};

constexpr const char* required_keys = "[relay]\nhostname = \"mx.example.com\"\n"
                                      "domains = [\"example.com\"]\n"
                                      "[home]\nlmtp = \"10.8.0.2:2424\"\n";

struct result {
    int code;
    std::string out, err;
};

result run(std::vector<std::string> args) {
    std::ostringstream out, err;
    int code = provision::run_queue(args, out, err);
    return {code, out.str(), err.str()};
}

} // namespace

TEST(queue_config, default_spool_of_the_relay_is_used_when_the_file_does_not_set_one) {
    temp_dir t;
    std::ofstream(t.path / "relay.toml") << required_keys;
    auto relay = relay::load_settings(t.path / "relay.toml");
    ASSERT_TRUE(relay) << relay.error();
    ASSERT_EQ(relay->spool_dir, fs::path("/var/spool/splitmail"));

    auto r = run({"--config", (t.path / "relay.toml").string(), "list"});
    EXPECT_EQ(r.err.find("spool.dir"), std::string::npos) << r.err;
    if (r.code != 0) { // no relay on this machine: the error names the relay's default spool
        EXPECT_NE(r.err.find("/var/spool/splitmail"), std::string::npos) << r.err;
    }
}

TEST(queue_config, spool_dir_from_the_file_is_listed) {
    temp_dir t;
    {
        durable::committer c;
        ASSERT_TRUE(queue::spool::open(t.path / "spool", c));
    }
    std::ofstream(t.path / "relay.toml")
        << required_keys << "[spool]\ndir = \"" << (t.path / "spool").string() << "\"\n";
    auto r = run({"--config", (t.path / "relay.toml").string(), "list"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(queue_config, a_file_the_relay_would_refuse_is_refused_with_its_reason) {
    temp_dir t;
    std::ofstream(t.path / "relay.toml") << required_keys << "[spool]\ndri = \"/x\"\n";
    auto r = run({"--config", (t.path / "relay.toml").string(), "list"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("spool.dri"), std::string::npos) << r.err;
}
