using System.Text;

namespace AotFaas.Async;

/// <summary>
/// A <see cref="StoredCall"/> as bytes, for stores that keep a call as one value (<see cref="NatsCallStore"/>: the
/// queued message, the status in the key-value bucket, the callback message): a version byte, then the fields in a
/// fixed order, nullable ones behind a presence flag. The request and the body are written only while the call waits
/// to run.
/// </summary>
public static class CallRecord
{
    private const byte Version = 1;

    public static byte[] Encode(StoredCall call, bool withRequest)
    {
        using var stream = new MemoryStream(256 + (withRequest ? call.Request.Length + call.Body.Length : 0) + (call.Output?.Length ?? 0));
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Version);
            writer.Write(call.Id);
            writer.Write(call.Function);
            writer.Write((byte)call.State);
            writer.Write(call.AcceptedAt);
            WriteNullable(writer, call.StartedAt);
            WriteNullable(writer, call.EndedAt);
            writer.Write(call.Runs);
            WriteNullable(writer, call.CallbackUrl);
            WriteNullable(writer, call.Status);
            WriteNullable(writer, call.Exit);
            WriteNullable(writer, call.ContentType);
            WriteBytes(writer, call.Output);
            writer.Write((byte)call.Callback);
            writer.Write(call.CallbackAttempts);
            WriteNullable(writer, call.CallbackDueAt);
            WriteBytes(writer, withRequest ? call.Request : []);
            WriteBytes(writer, withRequest ? call.Body : []);
        }

        return stream.ToArray();
    }

    /// <exception cref="InvalidDataException">Not a record this version wrote.</exception>
    public static StoredCall Decode(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes.ToArray()), Encoding.UTF8);
            if (reader.ReadByte() != Version)
            {
                throw new InvalidDataException("a stored call of an unknown version");
            }

            string id = reader.ReadString();
            string function = reader.ReadString();
            var state = (CallState)reader.ReadByte();
            long acceptedAt = reader.ReadInt64();
            long? startedAt = ReadNullableLong(reader);
            long? endedAt = ReadNullableLong(reader);
            int runs = reader.ReadInt32();
            string? callbackUrl = ReadNullableString(reader);
            int? status = reader.ReadBoolean() ? reader.ReadInt32() : null;
            string? exit = ReadNullableString(reader);
            string? contentType = ReadNullableString(reader);
            byte[]? output = ReadBytes(reader);
            var callback = (CallbackState)reader.ReadByte();
            int attempts = reader.ReadInt32();
            long? dueAt = ReadNullableLong(reader);
            byte[] request = ReadBytes(reader) ?? [];
            byte[] body = ReadBytes(reader) ?? [];
            return new StoredCall
            {
                Id = id,
                Function = function,
                State = state,
                AcceptedAt = acceptedAt,
                StartedAt = startedAt,
                EndedAt = endedAt,
                Runs = runs,
                CallbackUrl = callbackUrl,
                Status = status,
                Exit = exit,
                ContentType = contentType,
                Output = output,
                Callback = callback,
                CallbackAttempts = attempts,
                CallbackDueAt = dueAt,
                Request = request,
                Body = body,
            };
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("a stored call cut short", e);
        }
    }

    private static void WriteNullable(BinaryWriter writer, long? value)
    {
        writer.Write(value.HasValue);
        if (value is long v)
        {
            writer.Write(v);
        }
    }

    private static void WriteNullable(BinaryWriter writer, int? value)
    {
        writer.Write(value.HasValue);
        if (value is int v)
        {
            writer.Write(v);
        }
    }

    private static void WriteNullable(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null)
        {
            writer.Write(value);
        }
    }

    private static void WriteBytes(BinaryWriter writer, byte[]? value)
    {
        writer.Write(value?.Length ?? -1);
        if (value is not null)
        {
            writer.Write(value);
        }
    }

    private static long? ReadNullableLong(BinaryReader reader) => reader.ReadBoolean() ? reader.ReadInt64() : null;

    private static string? ReadNullableString(BinaryReader reader) => reader.ReadBoolean() ? reader.ReadString() : null;

    private static byte[]? ReadBytes(BinaryReader reader)
    {
        int length = reader.ReadInt32();
        if (length < 0)
        {
            return null;
        }

        byte[] bytes = reader.ReadBytes(length);
        return bytes.Length == length ? bytes : throw new EndOfStreamException();
    }
}
