#pragma once
// DKIM signing keys for the relay: the key file format, the d=/s= name rules and loading live in
// common/dkim (splitmail/dkim/key.hpp), shared with `splitmail dkim` and `check`; this header
// names them in relay::dkim, where the signer and the submission path use them.
#include "splitmail/dkim/key.hpp"

namespace splitmail::relay::dkim {

using splitmail::dkim::algorithm;
using splitmail::dkim::algorithm_name;
using splitmail::dkim::key_file;
using splitmail::dkim::key_from_pem;
using splitmail::dkim::load_domain_keys;
using splitmail::dkim::load_key;
using splitmail::dkim::load_keys;
using splitmail::dkim::signing_key;
using splitmail::dkim::valid_domain;
using splitmail::dkim::valid_selector;

} // namespace splitmail::relay::dkim
