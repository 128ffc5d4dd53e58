// tests: the scripted v2 server — the login, the file and attribute ops, and the faults the tests
// ask for.
#include "tests/client/fake_v2_server.h"

#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <vector>

#include "base/base64.h"
#include "protocol/digest.h"
#include "protocol/scram.h"
#include "protocol/wire_v2.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;

std::optional<std::string> ReadN(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    got += static_cast<size_t>(r);
  }
  return out;
}

void WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = write(fd, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    done += static_cast<size_t>(w);
  }
}

std::optional<v2::RequestHeader> ReadHeader(int fd) {
  std::optional<std::string> raw = ReadN(fd, v2::kRequestHeaderSize);
  if (!raw) return std::nullopt;
  std::array<uint8_t, v2::kRequestHeaderSize> bytes{};
  std::copy(raw->begin(), raw->end(), bytes.begin());
  return v2::DecodeRequestHeader(bytes);
}

// The mtime every listing gives a file uploaded without attributes.
constexpr int64_t kFixedMtime = 1700000000123456789;

std::optional<v2::Attributes> ReadAttributes(int fd) {
  std::optional<std::string> raw = ReadN(fd, v2::kAttributesSize);
  if (!raw) return std::nullopt;
  std::array<uint8_t, v2::kAttributesSize> bytes{};
  std::copy(raw->begin(), raw->end(), bytes.begin());
  Result<v2::Attributes> a = v2::DecodeAttributes(bytes);
  if (!a.ok()) return std::nullopt;
  return *a;
}

protocol::Digest Sha(const std::string& data) {
  protocol::Sha256 sha;
  sha.Update(data.data(), data.size());
  return sha.Finish();
}

}  // namespace

bool FakeV2Server::LogIn(int fd) {
  std::optional<v2::RequestHeader> h = ReadHeader(fd);
  if (!h || h->op != static_cast<uint8_t>(v2::Op::kAuthStart)) return false;
  std::optional<std::string> first = ReadN(fd, h->size);
  if (!first) return false;
  if (options_.login == FakeV2Options::Login::kBusy) {
    WriteAll(fd, v2::EncodeMessageResponse(v2::ResponseCode::kBusy, "",
                                           "too many failed logins from 127.0.0.1; try later"));
    return false;
  }
  const auto failed = [fd] {
    WriteAll(fd,
             v2::EncodeMessageResponse(v2::ResponseCode::kAuthFailed, "", "authentication failed"));
    return false;
  };
  Result<protocol::ScramServer> scram = protocol::ScramServer::Start(*first);
  if (!scram.ok()) return failed();
  // Another user's proof is checked against a verifier no secret of theirs matches.
  const bool known = protocol::ParseScramUserId(scram->user()) == options_.user;
  Result<protocol::ScramVerifier> verifier = protocol::DeriveScramVerifier(
      known ? options_.secret : "not-this-users-secret", "fake-salt-16byte", 4096);
  if (!verifier.ok()) return failed();
  Result<std::string> server_first = scram->ServerFirst(*verifier, "fakeservernonce0123456789");
  if (!server_first.ok()) return failed();
  WriteAll(fd, v2::EncodeMessageResponse(v2::ResponseCode::kAuthContinue, "", *server_first));

  h = ReadHeader(fd);
  if (!h || h->op != static_cast<uint8_t>(v2::Op::kAuthFinish)) return false;
  std::optional<std::string> final_message = ReadN(fd, h->size);
  if (!final_message) return false;
  Result<std::string> server_final = scram->ServerFinal(*final_message);
  if (!server_final.ok()) return failed();
  if (options_.login == FakeV2Options::Login::kForgedSignature) {
    server_final = "v=" + Base64Encode(std::string(32, 'x'));
  }
  WriteAll(fd, v2::EncodeMessageResponse(v2::ResponseCode::kAuthOk, "", *server_final));
  return true;
}

bool FakeV2Server::Answer(int fd, std::string* answer) {
  std::optional<v2::RequestHeader> h = ReadHeader(fd);
  if (!h) return false;
  std::optional<std::string> name = ReadN(fd, h->name_len);
  if (!name) return false;
  switch (static_cast<v2::Op>(h->op)) {
    case v2::Op::kBackup:
    case v2::Op::kBackupAttrs: {
      const bool with_attributes = h->op == static_cast<uint8_t>(v2::Op::kBackupAttrs);
      std::optional<v2::Attributes> attributes;
      if (with_attributes) {
        attributes = ReadAttributes(fd);
        if (!attributes) return false;
      }
      std::optional<std::string> data =
          ReadN(fd, h->size - (with_attributes ? v2::kAttributesSize : 0));
      std::optional<std::string> digest = ReadN(fd, protocol::kDigestSize);
      if (!data || !digest) return false;
      ++uploads_;
      upload_bytes_ += data->size();
      const protocol::Digest sha = Sha(*data);
      if (options_.refuse_upload_digest || std::string(sha.begin(), sha.end()) != *digest) {
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kDigestMismatch, *name,
                                            "the upload's bytes do not match its digest");
      } else {
        files_[*name] = std::move(*data);
        if (attributes) {
          file_attributes_[*name] = *attributes;
        } else {
          file_attributes_.erase(*name);
        }
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kOk, *name, "");
      }
      return true;
    }
    case v2::Op::kMakeFolder: {
      std::optional<v2::Attributes> attributes = ReadAttributes(fd);
      if (!attributes) return false;
      ++folders_made_;
      if (files_.count(*name) != 0) {
        *answer =
            v2::EncodeMessageResponse(v2::ResponseCode::kError, *name, "a file, not a folder");
      } else {
        folders_[*name] = *attributes;
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kOk, *name, "");
      }
      return true;
    }
    case v2::Op::kListAttrs: {
      if (options_.refuse_list) {
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kError, "", "cannot list today");
        return true;
      }
      std::map<std::string, v2::AttrEntry> sorted;
      for (const auto& [folder, a] : folders_) {
        sorted[folder] = {folder, v2::EntryKind::kFolder, a, 0, {}};
      }
      for (const auto& [file, data] : files_) {
        auto it = file_attributes_.find(file);
        const v2::Attributes a =
            it != file_attributes_.end() ? it->second : v2::Attributes{0, kFixedMtime};
        sorted[file] = {file, v2::EntryKind::kFile, a, data.size(), Sha(data)};
      }
      if (sorted.empty()) {
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kNoFiles, "", "nothing stored");
        return true;
      }
      std::string entries;
      for (const auto& [entry_name, e] : sorted) v2::AppendAttrEntry(entries, e);
      *answer = v2::EncodeResponsePrefix(v2::ResponseCode::kListOk, "", entries.size()) + entries;
      return true;
    }
    case v2::Op::kRestore: {
      auto it = files_.find(*name);
      if (it == files_.end()) {
        *answer =
            v2::EncodeMessageResponse(v2::ResponseCode::kNotFound, *name, "no file named " + *name);
        return true;
      }
      protocol::Digest sha = Sha(it->second);
      if (options_.corrupt_restore_digest) sha[0] ^= 1;
      *answer = v2::EncodeResponsePrefix(v2::ResponseCode::kRestoreOk, *name, it->second.size()) +
                it->second + v2::EncodeDigestTrailer(sha);
      return true;
    }
    case v2::Op::kDelete:
      file_attributes_.erase(*name);
      if (files_.erase(*name) == 0) {
        *answer =
            v2::EncodeMessageResponse(v2::ResponseCode::kNotFound, *name, "no file named " + *name);
      } else {
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kOk, *name, "");
      }
      return true;
    case v2::Op::kList: {
      if (options_.refuse_list) {
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kError, "", "cannot list today");
        return true;
      }
      if (files_.empty()) {
        *answer = v2::EncodeMessageResponse(v2::ResponseCode::kNoFiles, "", "no files stored");
        return true;
      }
      std::string entries;
      for (const auto& [file, data] : files_) {
        v2::AppendListEntry(entries, {file, data.size(), kFixedMtime, Sha(data)});
      }
      *answer = v2::EncodeResponsePrefix(v2::ResponseCode::kListOk, "", entries.size()) + entries;
      return true;
    }
    case v2::Op::kListVersions:
    case v2::Op::kRestoreVersion:
    case v2::Op::kListDeleted:
      *answer = v2::EncodeMessageResponse(v2::ResponseCode::kUnsupported, "", "no versions here");
      return false;
    case v2::Op::kAuthStart:
    case v2::Op::kAuthFinish:
      break;
  }
  *answer = v2::EncodeMessageResponse(v2::ResponseCode::kAuthFailed, "", "already logged in");
  return false;
}

void FakeV2Server::Serve(int fd) {
  if (!LogIn(fd)) return;
  std::vector<std::string> held;
  for (;;) {
    std::string answer;
    const bool more = Answer(fd, &answer);
    if (!answer.empty()) held.push_back(std::move(answer));
    if (more && options_.hold_answers) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 300) == 1) continue;
    }
    most_held_ = std::max(most_held_, held.size());
    for (const std::string& a : held) WriteAll(fd, a);
    held.clear();
    if (!more) return;
  }
}

}  // namespace backupd::testing
