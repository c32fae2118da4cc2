// Longer than the ~300 lines a file here is held to: every statement the store runs, and the one thread that runs
// them, in one place, so that what a transaction holds can be read whole.
using System.Collections.Concurrent;
using SQLitePCL;

namespace AotFaas.Async;

/// <summary>
/// The calls in one SQLite file, in WAL mode. Accepting commits with <c>synchronous=FULL</c>: a 202 is answered only
/// once its call is on disk, surviving a crash of the server and of the machine. Everything else (a call taken to run,
/// its end, a callback's progress) commits with <c>synchronous=NORMAL</c>: written to the WAL before the commit
/// returns, so a crash of the server loses nothing, but not synced until the next accept's fsync or a checkpoint; a
/// power loss may forget such a change, which runs a call again (at least once, as a crash does) and never loses one.
/// One connection, used by one thread of its own: every operation is queued to it, and the calls accepted while a
/// commit is under way are stored together in the next transaction, one fsync for all of them (group commit). SQLite is linked into the binary (libsqlite3.a through
/// SQLitePCLRaw's sqlite3 provider) only when a function takes asynchronous calls.
/// </summary>
public sealed class SqliteCallStore : ICallStore
{
    // Two tables: a call's small, often changed fields (state, times, owner, callback progress) in calls, and its large,
    // written-once values (the request and body until it has run, then its output) in blobs. SQLite rewrites a whole row
    // on any update, its overflow pages too: with the blobs beside them, taking a call to run and ending it rewrote its
    // body each time (measured: about half the store's writes per drained call).
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS calls (
          id TEXT PRIMARY KEY,
          function TEXT NOT NULL,
          state INTEGER NOT NULL,
          accepted_at INTEGER NOT NULL,
          started_at INTEGER,
          ended_at INTEGER,
          runs INTEGER NOT NULL DEFAULT 0,
          callback_url TEXT,
          status INTEGER,
          exit TEXT,
          content_type TEXT,
          callback_state INTEGER NOT NULL DEFAULT 0,
          callback_attempts INTEGER NOT NULL DEFAULT 0,
          callback_due_at INTEGER,
          owner TEXT
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS blobs (
          id TEXT PRIMARY KEY,
          request BLOB,
          body BLOB,
          output BLOB
        );
        CREATE INDEX IF NOT EXISTS calls_queue ON calls (function, state, accepted_at);
        CREATE INDEX IF NOT EXISTS calls_callbacks ON calls (callback_state, callback_due_at);
        CREATE INDEX IF NOT EXISTS calls_ended ON calls (state, ended_at);
        PRAGMA user_version = 2;
        """;

    // A store written by the first version (user_version 0, one table with the blobs in it), moved to the two tables in
    // one transaction.
    private const string FromOneTable = """
        BEGIN IMMEDIATE;
        ALTER TABLE calls RENAME TO calls_v1;
        DROP INDEX IF EXISTS calls_queue;
        DROP INDEX IF EXISTS calls_callbacks;
        DROP INDEX IF EXISTS calls_ended;
        """;

    private const string FromOneTableCopy = """
        INSERT INTO calls (id, function, state, accepted_at, started_at, ended_at, runs, callback_url, status, exit, content_type, callback_state, callback_attempts, callback_due_at, owner)
          SELECT id, function, state, accepted_at, started_at, ended_at, runs, callback_url, status, exit, content_type, callback_state, callback_attempts, callback_due_at, owner FROM calls_v1;
        INSERT INTO blobs (id, request, body, output) SELECT id, request, body, output FROM calls_v1;
        DROP TABLE calls_v1;
        COMMIT;
        """;

    private const string Columns = "c.id, c.function, c.state, c.accepted_at, c.started_at, c.ended_at, c.runs, b.request, b.body, c.callback_url, c.status, c.exit, c.content_type, b.output, c.callback_state, c.callback_attempts, c.callback_due_at";

    private const string FromCalls = "calls c LEFT JOIN blobs b ON b.id = c.id";

    /// <summary>A call as its status shows it: <see cref="Columns"/> with the request and the body left out (a body may be large).</summary>
    private static readonly string FindStatus = $"SELECT {Columns.Replace("b.request, b.body", "NULL, NULL", StringComparison.Ordinal)} FROM {FromCalls} WHERE c.id = ?1 AND c.function = ?2";

    private static int s_provider;

    private readonly sqlite3 _db;
    private readonly BlockingCollection<Work> _work = [];
    private readonly Thread _thread;
    private readonly Dictionary<string, sqlite3_stmt> _statements = [];

    private SqliteCallStore(sqlite3 db, string path)
    {
        _db = db;
        Path = path;
        _thread = new Thread(Loop) { IsBackground = true, Name = "aotfaas async store" };
        _thread.UnsafeStart();
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    public override string ToString() => Path;

    /// <summary>Opens (creating when needed) the store at <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The file cannot be opened or is not a store.</exception>
    public static SqliteCallStore Open(string path)
    {
        if (Interlocked.Exchange(ref s_provider, 1) == 0)
        {
            raw.SetProvider(new SQLite3Provider_sqlite3());
        }

        // The calls hold what callers sent (bodies, signatures): the file is the server's alone. SQLite gives its WAL and
        // shared-memory files the database file's mode.
        if (!File.Exists(path) && System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is string folder && Directory.Exists(folder))
        {
            try
            {
                using (File.Open(path, FileMode.CreateNew, FileAccess.Write))
                {
                }

                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }
            }
            catch (IOException)
            {
                // Created by someone else meanwhile, or not creatable: SQLite says which below.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        int rc = raw.sqlite3_open_v2(path, out sqlite3 db, raw.SQLITE_OPEN_READWRITE | raw.SQLITE_OPEN_CREATE | raw.SQLITE_OPEN_NOMUTEX, null);
        if (rc != raw.SQLITE_OK)
        {
            string message = db is null ? raw.sqlite3_errstr(rc).utf8_to_string() : raw.sqlite3_errmsg(db).utf8_to_string();
            db?.Dispose();
            throw new IOException($"cannot open the async store '{path}': {message}");
        }

        try
        {
            Exec(db, "PRAGMA busy_timeout = 5000");
            Exec(db, "PRAGMA journal_mode = WAL");
            Exec(db, "PRAGMA synchronous = NORMAL");
            if (UserVersion(db) == 0 && TableHasColumn(db, "calls", "body"))
            {
                try
                {
                    Exec(db, FromOneTable + Schema + FromOneTableCopy);
                }
                catch (IOException)
                {
                    raw.sqlite3_exec(db, "ROLLBACK");
                    throw;
                }
            }

            Exec(db, Schema);
        }
        catch (IOException e)
        {
            db.Dispose();
            throw new IOException($"cannot use the async store '{path}': {e.Message}", e);
        }

        return new SqliteCallStore(db, path);
    }

    public Task<EnqueueResult> EnqueueAsync(StoredCall call, int queueLimit)
    {
        var work = new Enqueue(call, queueLimit);
        _work.Add(work);
        return work.Task;
    }

    public Task<StoredCall?> ClaimNextAsync(string function, string owner) => Write(() => Claim(function, owner, 1) is [StoredCall claimed] ? claimed : null);

    public Task<IReadOnlyList<StoredCall>> ClaimAsync(string function, string owner, int max) => Write<IReadOnlyList<StoredCall>>(() => Claim(function, owner, max));

    // Run in a write transaction taken at once (BEGIN IMMEDIATE, see Write): another server on the same file (the one a
    // SIGHUP replaces) cannot take the same calls between the read and the mark.
    private List<StoredCall> Claim(string function, string owner, int max)
    {
        var calls = new List<StoredCall>();
        sqlite3_stmt select = Statement($"SELECT {Columns} FROM {FromCalls} WHERE c.function = ?1 AND c.state = 0 ORDER BY c.accepted_at LIMIT ?2");
        Bind(select, 1, function);
        Bind(select, 2, Math.Max(1, max));
        while (raw.sqlite3_step(select) == raw.SQLITE_ROW)
        {
            calls.Add(Read(select));
        }

        raw.sqlite3_reset(select);
        long now = Now();
        sqlite3_stmt update = Statement("UPDATE calls SET state = 1, started_at = ?2, runs = ?3, owner = ?4 WHERE id = ?1 AND state = 0");
        var claimed = new List<StoredCall>(calls.Count);
        foreach (StoredCall call in calls)
        {
            call.State = CallState.Running;
            call.StartedAt = now;
            call.Runs++;
            Bind(update, 1, call.Id);
            Bind(update, 2, call.StartedAt);
            Bind(update, 3, call.Runs);
            Bind(update, 4, owner);
            Step(update);
            if (raw.sqlite3_changes(_db) == 1)
            {
                claimed.Add(call);
            }
        }

        return claimed;
    }

    public Task CompleteAsync(StoredCall call) => Write(() =>
    {
        if (call.CallbackUrl is not null)
        {
            call.Callback = CallbackState.Pending;
            call.CallbackDueAt = call.EndedAt;
        }

        sqlite3_stmt update = Statement("UPDATE calls SET state = 2, ended_at = ?2, status = ?3, exit = ?4, content_type = ?5, callback_state = ?6, callback_due_at = ?7 WHERE id = ?1");
        Bind(update, 1, call.Id);
        Bind(update, 2, call.EndedAt);
        Bind(update, 3, call.Status);
        Bind(update, 4, call.Exit);
        Bind(update, 5, call.ContentType);
        Bind(update, 6, (int)call.Callback);
        Bind(update, 7, call.CallbackDueAt);
        Step(update);

        // The request and body go (what the caller sent is not kept past the run), the output comes.
        sqlite3_stmt blobs = Statement("UPDATE blobs SET request = NULL, body = NULL, output = ?2 WHERE id = ?1");
        Bind(blobs, 1, call.Id);
        Bind(blobs, 2, call.Output ?? []);
        Step(blobs);
        return true;
    });

    public Task RequeueAsync(StoredCall call) => Write(() =>
    {
        sqlite3_stmt update = Statement("UPDATE calls SET state = 0, runs = ?2 WHERE id = ?1 AND state = 1");
        Bind(update, 1, call.Id);
        Bind(update, 2, call.Runs);
        Step(update);
        return true;
    });

    public Task<StoredCall?> FindAsync(string function, string id) => Post(() =>
    {
        sqlite3_stmt select = Statement(FindStatus);
        Bind(select, 1, id);
        Bind(select, 2, function);
        StoredCall? call = raw.sqlite3_step(select) == raw.SQLITE_ROW ? Read(select) : null;
        raw.sqlite3_reset(select);
        return call;
    });

    /// <summary>The output's length, read from the record's header (SQLite's <c>length()</c> of a blob does not load it).</summary>
    public Task<long> OutputSizeAsync(string function, string id) => Post(() =>
    {
        sqlite3_stmt select = Statement("SELECT length(b.output) FROM calls c JOIN blobs b ON b.id = c.id WHERE c.id = ?1 AND c.function = ?2");
        Bind(select, 1, id);
        Bind(select, 2, function);
        long size = raw.sqlite3_step(select) == raw.SQLITE_ROW ? raw.sqlite3_column_int64(select, 0) : 0;
        raw.sqlite3_reset(select);
        return size;
    });

    public Task<int> RecoverAsync(Func<string?, bool> ownerAlive) => Post(() =>
    {
        var owners = new List<string?>();
        sqlite3_stmt select = Statement("SELECT DISTINCT owner FROM calls WHERE state = 1");
        while (raw.sqlite3_step(select) == raw.SQLITE_ROW)
        {
            owners.Add(Text(select, 0));
        }

        raw.sqlite3_reset(select);
        int recovered = 0;
        foreach (string? owner in owners)
        {
            if (!ownerAlive(owner))
            {
                sqlite3_stmt update = Statement("UPDATE calls SET state = 0 WHERE state = 1 AND owner IS ?1");
                Bind(update, 1, owner);
                Step(update);
                recovered += raw.sqlite3_changes(_db);
            }
        }

        return recovered;
    });

    public Task<IReadOnlyDictionary<string, (int Queued, long OldestAcceptedAt)>> QueueStatsAsync(IReadOnlyCollection<string> functions) => Post<IReadOnlyDictionary<string, (int, long)>>(() =>
    {
        // Counted on the queue's index alone (function, state, accepted_at): read by state alone, each queued call's row
        // (its blobs) would be read from the table, and this runs at every scrape of /metrics.
        var stats = new Dictionary<string, (int, long)>(StringComparer.Ordinal);
        sqlite3_stmt select = Statement("SELECT function, count(*), min(accepted_at) FROM calls INDEXED BY calls_queue WHERE state = 0 GROUP BY function");
        while (raw.sqlite3_step(select) == raw.SQLITE_ROW)
        {
            stats[raw.sqlite3_column_text(select, 0).utf8_to_string()] = (raw.sqlite3_column_int(select, 1), raw.sqlite3_column_int64(select, 2));
        }

        raw.sqlite3_reset(select);
        return stats;
    });

    /// <summary>Another server on the same file (the one a SIGHUP replaces) is not heard: the dispatchers' poll finds its calls.</summary>
    public Task WatchAsync(Action<string> queued, CancellationToken stopping) => Task.CompletedTask;

    public Task<IReadOnlyList<StoredCall>> DueCallbacksAsync(long now, int limit) => Post<IReadOnlyList<StoredCall>>(() =>
    {
        var due = new List<StoredCall>();
        sqlite3_stmt select = Statement($"SELECT {Columns} FROM {FromCalls} WHERE c.callback_state = 1 AND c.callback_due_at <= ?1 ORDER BY c.callback_due_at LIMIT ?2");
        Bind(select, 1, now);
        Bind(select, 2, limit);
        while (raw.sqlite3_step(select) == raw.SQLITE_ROW)
        {
            due.Add(Read(select));
        }

        raw.sqlite3_reset(select);
        return due;
    });

    public Task UpdateCallbackAsync(StoredCall call) => Write(() =>
    {
        sqlite3_stmt update = Statement("UPDATE calls SET callback_state = ?2, callback_attempts = ?3, callback_due_at = ?4 WHERE id = ?1");
        Bind(update, 1, call.Id);
        Bind(update, 2, (int)call.Callback);
        Bind(update, 3, call.CallbackAttempts);
        Bind(update, 4, call.CallbackDueAt);
        Step(update);
        return true;
    });

    public Task<int> PurgeAsync(long before) => Post(() =>
    {
        Exec(_db, "BEGIN IMMEDIATE");
        try
        {
            sqlite3_stmt blobs = Statement("DELETE FROM blobs WHERE id IN (SELECT id FROM calls WHERE state = 2 AND ended_at < ?1 AND callback_state <> 1)");
            Bind(blobs, 1, before);
            Step(blobs);
            sqlite3_stmt delete = Statement("DELETE FROM calls WHERE state = 2 AND ended_at < ?1 AND callback_state <> 1");
            Bind(delete, 1, before);
            Step(delete);
            int purged = raw.sqlite3_changes(_db);
            Exec(_db, "COMMIT");
            return purged;
        }
        catch
        {
            raw.sqlite3_exec(_db, "ROLLBACK");
            throw;
        }
    });

    public async ValueTask DisposeAsync()
    {
        _work.CompleteAdding();
        await Task.Run(() => _thread.Join()).ConfigureAwait(false);
        foreach (sqlite3_stmt statement in _statements.Values)
        {
            raw.sqlite3_finalize(statement);
        }

        raw.sqlite3_close_v2(_db);
        _work.Dispose();
    }

    /// <summary>Now, in Unix milliseconds.</summary>
    public static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private Task<T> Post<T>(Func<T> operation)
    {
        var work = new Operation<T>(operation);
        _work.Add(work);
        return work.Task;
    }

    /// <summary>A write run in a transaction taken at once, together with the writes queued right after it (see <see cref="CommitWrites"/>).</summary>
    private Task<T> Write<T>(Func<T> operation)
    {
        var work = new Operation<T>(operation, write: true);
        _work.Add(work);
        return work.Task;
    }

    private void Loop()
    {
        var batch = new List<Enqueue>();
        var writes = new List<Work>();
        Work? carried = null;
        while (carried is not null || _work.TryTake(out carried, Timeout.Infinite))
        {
            Work first = carried;
            carried = null;
            if (first is Enqueue enqueue)
            {
                // Every call accepted while the last commit was under way goes into this transaction.
                batch.Add(enqueue);
                while (batch.Count < 256 && _work.TryTake(out Work? next))
                {
                    if (next is Enqueue another)
                    {
                        batch.Add(another);
                    }
                    else
                    {
                        carried = next;
                        break;
                    }
                }

                CommitBatch(batch);
            }
            else if (first.IsWrite)
            {
                // The writes queued meanwhile (ends of calls, the next claims) share this transaction and its commit.
                writes.Add(first);
                while (writes.Count < 64 && _work.TryTake(out Work? next))
                {
                    if (next.IsWrite)
                    {
                        writes.Add(next);
                    }
                    else
                    {
                        carried = next;
                        break;
                    }
                }

                CommitWrites(writes);
            }
            else
            {
                first.Run(this);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="writes"/> in one transaction, taken for writing at once; each learns its outcome once it is
    /// committed. When one fails, the transaction is rolled back and each runs again in a transaction of its own, so that
    /// a failure is only its own.
    /// </summary>
    private void CommitWrites(List<Work> writes)
    {
        if (writes.Count > 1)
        {
            try
            {
                Exec(_db, "BEGIN IMMEDIATE");
                foreach (Work write in writes)
                {
                    write.Execute(this);
                }

                Exec(_db, "COMMIT");
                foreach (Work write in writes)
                {
                    write.Publish();
                }

                writes.Clear();
                return;
            }
            catch (Exception)
            {
                raw.sqlite3_exec(_db, "ROLLBACK");
                foreach (Work write in writes)
                {
                    write.Forget();
                }
            }
        }

        foreach (Work write in writes)
        {
            try
            {
                Exec(_db, "BEGIN IMMEDIATE");
                write.Execute(this);
                Exec(_db, "COMMIT");
                write.Publish();
            }
            catch (Exception e)
            {
                raw.sqlite3_exec(_db, "ROLLBACK");
                write.Fail(e);
            }
        }

        writes.Clear();
    }

    private void CommitBatch(List<Enqueue> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        var results = new EnqueueResult[batch.Count];
        try
        {
            // This commit alone is synced: the 202s wait for it.
            Exec(_db, "PRAGMA synchronous = FULL");
            Exec(_db, "BEGIN IMMEDIATE");
            for (int i = 0; i < batch.Count; i++)
            {
                results[i] = Insert(batch[i].Call, batch[i].QueueLimit);
            }

            Exec(_db, "COMMIT");
            for (int i = 0; i < batch.Count; i++)
            {
                batch[i].Complete(results[i]);
            }
        }
        catch (Exception e)
        {
            raw.sqlite3_exec(_db, "ROLLBACK");
            foreach (Enqueue failed in batch)
            {
                failed.Fail(e);
            }
        }
        finally
        {
            raw.sqlite3_exec(_db, "PRAGMA synchronous = NORMAL");
        }

        batch.Clear();
    }

    private EnqueueResult Insert(StoredCall call, int queueLimit)
    {
        sqlite3_stmt count = Statement("SELECT count(*) FROM calls WHERE function = ?1 AND state = 0");
        Bind(count, 1, call.Function);
        raw.sqlite3_step(count);
        int queued = raw.sqlite3_column_int(count, 0);
        raw.sqlite3_reset(count);
        if (queued >= queueLimit)
        {
            return EnqueueResult.QueueFull;
        }

        sqlite3_stmt insert = Statement("INSERT OR IGNORE INTO calls (id, function, state, accepted_at, callback_url) VALUES (?1, ?2, 0, ?3, ?4)");
        Bind(insert, 1, call.Id);
        Bind(insert, 2, call.Function);
        Bind(insert, 3, call.AcceptedAt);
        Bind(insert, 4, call.CallbackUrl);
        Step(insert);
        if (raw.sqlite3_changes(_db) != 1)
        {
            return EnqueueResult.DuplicateId;
        }

        sqlite3_stmt blobs = Statement("INSERT OR REPLACE INTO blobs (id, request, body) VALUES (?1, ?2, ?3)");
        Bind(blobs, 1, call.Id);
        Bind(blobs, 2, call.Request);
        Bind(blobs, 3, call.Body);
        Step(blobs);
        return EnqueueResult.Accepted;
    }

    private sqlite3_stmt Statement(string sql)
    {
        if (!_statements.TryGetValue(sql, out sqlite3_stmt? statement))
        {
            Check(raw.sqlite3_prepare_v2(_db, sql, out statement));
            _statements[sql] = statement;
        }

        return statement;
    }

    private void Step(sqlite3_stmt statement)
    {
        int rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE && rc != raw.SQLITE_ROW)
        {
            Check(rc);
        }
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw new IOException($"the async store failed: {raw.sqlite3_errmsg(_db).utf8_to_string()}");
        }
    }

    private static int UserVersion(sqlite3 db)
    {
        Check(db, raw.sqlite3_prepare_v2(db, "PRAGMA user_version", out sqlite3_stmt statement));
        try
        {
            return raw.sqlite3_step(statement) == raw.SQLITE_ROW ? raw.sqlite3_column_int(statement, 0) : 0;
        }
        finally
        {
            raw.sqlite3_finalize(statement);
        }
    }

    private static bool TableHasColumn(sqlite3 db, string table, string column)
    {
        Check(db, raw.sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", out sqlite3_stmt statement));
        try
        {
            Bind(statement, 1, table);
            Bind(statement, 2, column);
            return raw.sqlite3_step(statement) == raw.SQLITE_ROW;
        }
        finally
        {
            raw.sqlite3_finalize(statement);
        }
    }

    private static void Check(sqlite3 db, int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw new IOException(raw.sqlite3_errmsg(db).utf8_to_string());
        }
    }

    private static void Exec(sqlite3 db, string sql)
    {
        if (raw.sqlite3_exec(db, sql, null, null, out string? error) != raw.SQLITE_OK)
        {
            throw new IOException(error ?? raw.sqlite3_errmsg(db).utf8_to_string());
        }
    }

    private static void Bind(sqlite3_stmt statement, int index, string? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(statement, index);
        }
        else
        {
            raw.sqlite3_bind_text(statement, index, value);
        }
    }

    private static void Bind(sqlite3_stmt statement, int index, long? value)
    {
        if (value is long number)
        {
            raw.sqlite3_bind_int64(statement, index, number);
        }
        else
        {
            raw.sqlite3_bind_null(statement, index);
        }
    }

    private static void Bind(sqlite3_stmt statement, int index, byte[] value) => raw.sqlite3_bind_blob(statement, index, value);

    private static StoredCall Read(sqlite3_stmt row) => new()
    {
        Id = raw.sqlite3_column_text(row, 0).utf8_to_string(),
        Function = raw.sqlite3_column_text(row, 1).utf8_to_string(),
        State = (CallState)raw.sqlite3_column_int(row, 2),
        AcceptedAt = raw.sqlite3_column_int64(row, 3),
        StartedAt = Nullable(row, 4),
        EndedAt = Nullable(row, 5),
        Runs = raw.sqlite3_column_int(row, 6),
        Request = raw.sqlite3_column_type(row, 7) == raw.SQLITE_NULL ? [] : raw.sqlite3_column_blob(row, 7).ToArray(),
        Body = raw.sqlite3_column_type(row, 8) == raw.SQLITE_NULL ? [] : raw.sqlite3_column_blob(row, 8).ToArray(),
        CallbackUrl = Text(row, 9),
        Status = raw.sqlite3_column_type(row, 10) == raw.SQLITE_NULL ? null : raw.sqlite3_column_int(row, 10),
        Exit = Text(row, 11),
        ContentType = Text(row, 12),
        Output = raw.sqlite3_column_type(row, 13) == raw.SQLITE_NULL ? null : raw.sqlite3_column_blob(row, 13).ToArray(),
        Callback = (CallbackState)raw.sqlite3_column_int(row, 14),
        CallbackAttempts = raw.sqlite3_column_int(row, 15),
        CallbackDueAt = Nullable(row, 16),
    };

    private static long? Nullable(sqlite3_stmt row, int column)
        => raw.sqlite3_column_type(row, column) == raw.SQLITE_NULL ? null : raw.sqlite3_column_int64(row, column);

    private static string? Text(sqlite3_stmt row, int column)
        => raw.sqlite3_column_type(row, column) == raw.SQLITE_NULL ? null : raw.sqlite3_column_text(row, column).utf8_to_string();

    private abstract class Work
    {
        /// <summary>Whether this is a write run in a transaction (see <see cref="CommitWrites"/>).</summary>
        public virtual bool IsWrite => false;

        public abstract void Run(SqliteCallStore store);

        /// <summary>Runs a write inside the transaction; its outcome is kept until <see cref="Publish"/> (committed) or <see cref="Forget"/> (rolled back).</summary>
        public virtual void Execute(SqliteCallStore store) => throw new NotSupportedException();

        public virtual void Publish()
        {
        }

        public virtual void Forget()
        {
        }

        public virtual void Fail(Exception e)
        {
        }
    }

    private sealed class Operation<T>(Func<T> operation, bool write = false) : Work
    {
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Task => _done.Task;

        public override bool IsWrite => write;

        public override void Run(SqliteCallStore store)
        {
            try
            {
                _done.SetResult(operation());
            }
            catch (Exception e)
            {
                _done.SetException(e);
            }
        }

        public override void Execute(SqliteCallStore store) => _result = operation();

        public override void Publish() => _done.SetResult(_result!);

        public override void Forget() => _result = default;

        public override void Fail(Exception e) => _done.TrySetException(e);
    }

    private sealed class Enqueue(StoredCall call, int queueLimit) : Work
    {
        private readonly TaskCompletionSource<EnqueueResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public StoredCall Call { get; } = call;

        public int QueueLimit { get; } = queueLimit;

        public Task<EnqueueResult> Task => _done.Task;

        public void Complete(EnqueueResult result) => _done.SetResult(result);

        public override void Fail(Exception e) => _done.SetException(e);

        public override void Run(SqliteCallStore store) => store.CommitBatch([this]);
    }
}
