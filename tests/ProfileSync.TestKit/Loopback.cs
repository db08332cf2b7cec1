using System.Net;
using System.Net.Sockets;

namespace ProfileSync.TestKit;

public static class Loopback
{
    /// <summary>A TCP port on 127.0.0.1 that nothing listened on a moment ago (the system picks it).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
