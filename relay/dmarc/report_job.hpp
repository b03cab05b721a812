#pragma once
// The relay's DMARC aggregate report job (issue 17, RFC 7489 7.2): at start-up and then once
// per report period (dmarc_reports.send_delay after each period ends) it takes every ended
// period whose reports were not sent yet (store.hpp), builds one report per policy domain
// (report.hpp) and queues one message per rua= address through the same spool and queue
// manager as every other message, so delivery, retries, bounces and DSNs work as for mail
// users send. Each message is DKIM-signed with the keys of its From: domain, as outgoing
// submissions are (submission/outgoing.hpp's keyring, reloaded on SIGHUP).
//
// A period is marked sent (durably) BEFORE its messages are queued: a crash in between loses
// that period's reports, a restart never sends them twice (RFC 7489 7.2 asks for no
// duplicates; reports are statistics). A rua= address of another Organizational Domain gets
// the report only when its domain publishes the 7.1 authorisation record (external.hpp,
// looked up through the relay's resolver; no resolver or a failed lookup: not sent); a
// report whose message is larger than the address's "!size" is not sent to it (logged).
// Reading the records, building, compressing and signing run on a worker thread of the job,
// never on the io thread; the lookups and the queueing are awaited on the io thread.
//
// Does not: send failure reports (ruf=), honour ri= (reports go once per our interval, at
// least daily as 7.2 asks), send the 7.2.2 error reports, or retry a lost period.
#include "dmarc/psl.hpp"
#include "dmarc/store.hpp"
#include "dns/resolver.hpp"
#include "submission/outgoing.hpp"

#include "splitmail/queue/spool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace splitmail::relay::dmarc {

struct job_config {
    std::filesystem::path dir;
    std::chrono::seconds interval{86400};
    std::chrono::seconds send_delay{300};
    std::chrono::seconds keep{7 * 86400};
    std::string receiver; // relay.hostname
    std::string org_name;
    std::string from;
    dns::unbound_resolver* resolver = nullptr; // 7.1 lookups; null: external rua skipped
    const suffix_list* psl = nullptr;          // required
    const std::shared_ptr<const dkim_keyring>* keys = nullptr;
    queue::spool* spool = nullptr;
    std::function<void(queue::envelope)> add;      // hand a queued envelope to the manager
    std::function<bool(std::string_view)> is_ours; // domain routed home
};

class report_job {
public:
    report_job(boost::asio::io_context& io, job_config cfg);
    ~report_job();
    void start();
    void stop();

private:
    boost::asio::awaitable<void> loop();
    boost::asio::awaitable<void> send_due();
    boost::asio::awaitable<void> send_period(const stored_period& sp);

    boost::asio::io_context& io_;
    job_config cfg_;
    boost::asio::steady_timer timer_;
    boost::asio::thread_pool worker_{1};
    bool stopped_ = false;
};

} // namespace splitmail::relay::dmarc
