// Thin RAII wrappers over the SQLite C API: SqliteDb owns one sqlite3*, SqliteStmt one
// sqlite3_stmt*. Every failure is thrown as SqliteError carrying SQLite's result code, so
// callers can tell corruption (rebuild the cache) from contention (go on without it).
// Not thread-safe: one connection per thread, and never carried across fork().
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace ktsync {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }          // extended result code
  int primary() const { return code_ & 0xff; }
  bool IsCorrupt() const;                     // SQLITE_CORRUPT or SQLITE_NOTADB
  bool IsBusy() const;                        // SQLITE_BUSY or SQLITE_LOCKED

 private:
  int code_;
};

class SqliteStmt {
 public:
  SqliteStmt() = default;
  SqliteStmt(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  SqliteStmt(SqliteStmt&& o) noexcept;
  SqliteStmt& operator=(SqliteStmt&& o) noexcept;
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt();

  bool valid() const { return stmt_ != nullptr; }
  // Binds are 1-based. Blob and text binds do NOT copy: the bytes must outlive the Step()s.
  void BindInt64(int idx, int64_t v);
  void BindBlob(int idx, const void* data, size_t len);
  void BindText(int idx, std::string_view text);
  // true: a row is ready; false: done. Throws SqliteError on failure.
  bool Step();
  // Ready for re-execution with fresh binds.
  void Reset();

  int64_t ColumnInt64(int col) const;
  std::string_view ColumnBlob(int col) const;  // valid until the next Step/Reset
  bool ColumnIsNull(int col) const;

 private:
  void Check(int rc) const;
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;  // not owned: for error messages
};

class SqliteDb {
 public:
  SqliteDb() = default;
  // flags are sqlite3_open_v2 flags. ":memory:" opens a private in-memory database.
  static SqliteDb Open(const std::string& path, int flags);
  SqliteDb(SqliteDb&& o) noexcept;
  SqliteDb& operator=(SqliteDb&& o) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  bool valid() const { return db_ != nullptr; }
  sqlite3* get() const { return db_; }
  void Close();  // every SqliteStmt of this connection must be gone first

  void Exec(const std::string& sql);  // one or more statements, no results
  SqliteStmt Prepare(std::string_view sql);
  // First column of the first row as an integer (PRAGMA user_version and the like).
  int64_t QueryInt(const std::string& sql);
  // First column of the first row as text, "" when there is no row.
  std::string QueryText(const std::string& sql);
  void SetBusyTimeoutMs(int ms);

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

}  // namespace ktsync
