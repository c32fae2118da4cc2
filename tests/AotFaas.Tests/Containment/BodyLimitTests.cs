using System.Text;
using AotFaas.Tests.Http;

namespace AotFaas.Tests.Containment;

/// <summary><c>max-body</c> counts the body's own bytes, whatever its framing.</summary>
public class BodyLimitTests(ContainmentFixture server) : IClassFixture<ContainmentFixture>
{
    /// <summary>A chunked POST of <paramref name="body"/>, <paramref name="chunkSize"/> bytes a chunk.</summary>
    private Task<RawHttp.Response> PostChunkedAsync(string function, byte[] body, int chunkSize)
    {
        var request = new MemoryStream();
        request.Write(Encoding.ASCII.GetBytes($"POST /function/{function} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"));
        for (int at = 0; at < body.Length; at += chunkSize)
        {
            int size = Math.Min(chunkSize, body.Length - at);
            request.Write(Encoding.ASCII.GetBytes(size.ToString("x", System.Globalization.CultureInfo.InvariantCulture) + "\r\n"));
            request.Write(body, at, size);
            request.Write("\r\n"u8);
        }

        request.Write("0\r\n\r\n"u8);
        return RawHttp.ExchangeAsync(server.Address, "POST", [request.ToArray()]);
    }

    [Fact]
    public async Task A_small_body_in_one_byte_chunks_is_not_refused_for_its_framing()
    {
        byte[] body = Encoding.ASCII.GetBytes(new string('a', 200));

        RawHttp.Response response = await PostChunkedAsync("small", body, 1);

        Assert.Equal(200, response.Status);
        Assert.Equal(body, response.Body);
    }

    [Fact]
    public async Task A_chunked_body_of_exactly_max_body_bytes_runs()
    {
        byte[] body = Enumerable.Range(0, 1024).Select(i => (byte)i).ToArray();

        RawHttp.Response response = await PostChunkedAsync("small", body, 7);

        Assert.Equal(200, response.Status);
        Assert.Equal(body, response.Body);
    }

    [Fact]
    public async Task A_chunked_body_one_byte_over_max_body_is_413()
    {
        RawHttp.Response response = await PostChunkedAsync("small", new byte[1025], 100);

        Assert.Equal(413, response.Status);
        Assert.Contains("the limit of 'small' is 1KiB", response.Text, StringComparison.Ordinal);
    }
}
