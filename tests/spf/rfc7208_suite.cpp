// Runner for the RFC 7208 test suite: reads the scenarios as JSON on stdin (made from
// tests/data/spf/rfc7208-tests.yml by run_rfc7208.py), answers DNS from each scenario's zone
// data and checks every case's result (any of the listed ones) and explanation.
// Prints one line per failed or skipped case and a summary; exits 1 if any case failed.
#include "splitmail/spf/evaluator.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace splitmail::spf;

namespace {

struct zone_record {
    std::string type, value;
};

std::string lower_name(std::string_view s) {
    if (s.ends_with('.')) s.remove_suffix(1);
    std::string out(s);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The suite's zone: names -> records; "TIMEOUT" makes queries for absent types time out;
// CNAMEs are followed (a loop is a DNS error, RFC 1034 3.6.2).
class zone_dns final : public dns_client {
public:
    explicit zone_dns(std::map<std::string, std::vector<zone_record>> z) : zone_(std::move(z)) {}

    dns_answer query(std::string_view name, rr_type type) override {
        ++queries_;
        std::string n = lower_name(name);
        for (int hop = 0; hop < 8; ++hop) {
            auto it = zone_.find(n);
            if (it == zone_.end()) return {dns_status::nxdomain, {}};
            dns_answer a{dns_status::ok, {}};
            bool timeout = false;
            std::string cname;
            for (const auto& r : it->second) {
                if (r.type == "TIMEOUT")
                    timeout = true;
                else if (r.type == type_name(type))
                    a.records.push_back(r.value);
                else if (r.type == "CNAME")
                    cname = r.value;
            }
            if (!a.records.empty()) return a;
            if (!cname.empty()) {
                n = lower_name(cname);
                continue;
            }
            if (timeout) return {dns_status::temp_error, {}};
            return {dns_status::no_data, {}};
        }
        return {dns_status::temp_error, {}};
    }
    unsigned queries_ = 0;

private:
    static std::string_view type_name(rr_type t) {
        switch (t) {
        case rr_type::a: return "A";
        case rr_type::aaaa: return "AAAA";
        case rr_type::mx: return "MX";
        case rr_type::txt: return "TXT";
        case rr_type::ptr: return "PTR";
        }
        return "";
    }
    std::map<std::string, std::vector<zone_record>> zone_;
};

// MX values may also be written "preference name"; the dns_client hands out names only.
std::string zone_value(const std::string& type, const nlohmann::json& v) {
    std::string s = v.get<std::string>();
    if (type == "MX") {
        auto sp = s.find(' ');
        if (sp != std::string::npos) s = s.substr(sp + 1);
    }
    return s;
}

} // namespace

int main() {
    nlohmann::json scenarios = nlohmann::json::parse(std::cin);
    unsigned passed = 0, failed = 0, skipped = 0;
    for (const auto& sc : scenarios) {
        std::map<std::string, std::vector<zone_record>> zone;
        for (const auto& [name, recs] : sc["zone"].items())
            for (const auto& r : recs) {
                std::string type = r["type"];
                zone[name].push_back(
                    {type, r.contains("value") ? zone_value(type, r["value"]) : ""});
            }
        for (const auto& t : sc["tests"]) {
            std::string name = t["name"];
            if (!t["skip"].is_null()) {
                ++skipped;
                std::cout << "SKIP " << name << ": " << t["skip"].get<std::string>() << "\n";
                continue;
            }
            zone_dns dns(zone);
            options opt;
            opt.default_explanation = "DEFAULT";
            auto ip = parse_ip(t["host"].get<std::string>());
            if (!ip) {
                ++failed;
                std::cout << "FAIL " << name << ": bad host in the suite\n";
                continue;
            }
            auto ev = check_mail_from(dns, *ip, t["mailfrom"].get<std::string>(),
                                      t["helo"].get<std::string>(), opt);
            std::string got(to_string(ev.code));
            std::vector<std::string> want = t["result"];
            bool ok = std::find(want.begin(), want.end(), got) != want.end();
            std::string why;
            if (!ok) why = "result " + got + ", expected " + t["result"].dump();
            if (ok && !t["explanation"].is_null() && ev.code == result::fail &&
                ev.explanation != t["explanation"].get<std::string>()) {
                ok = false;
                why = "explanation \"" + ev.explanation + "\", expected " + t["explanation"].dump();
            }
            if (ok) {
                ++passed;
            } else {
                ++failed;
                std::cout << "FAIL " << name << " (" << t["spec"].get<std::string>() << "): " << why
                          << " [problem: " << ev.problem << "; mechanism: " << ev.mechanism
                          << "]\n";
            }
        }
    }
    std::cout << "rfc7208-tests: " << passed << " passed, " << failed << " failed, " << skipped
              << " skipped\n";
    return failed == 0 ? 0 : 1;
}
