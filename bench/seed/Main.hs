-- The seed: the article's "FaaS server in 20 lines of Haskell" (issue 16; AotFaas was drawn from it),
-- written for the bench. Unchanged in what it does: scotty, POST /function/:func, the `cat`
-- function, the request body on stdin, exit 0 -> 200 with stdout, non-zero -> 500 with stderr,
-- an unknown function -> 404 with an empty body. Two bench-only additions, neither on the request
-- path: the port comes from the first argument (3000 without one, as in the article), and it
-- listens on 127.0.0.1 (the article's `scotty 3000` binds every interface).
-- Built by bench/seed/build (ghc -O2 -threaded -with-rtsopts=-N2), which bench/run calls.
{-# LANGUAGE OverloadedStrings #-}
module Main (main) where

import Control.Monad.IO.Class (liftIO)
import Data.ByteString.Lazy (ByteString)
import Data.Default.Class (def)
import qualified Data.ByteString.Lazy as LB
import Network.HTTP.Types.Status (status404, status500)
import Network.Wai.Handler.Warp (setHost, setPort)
import System.Environment (getArgs)
import System.Exit (ExitCode (..))
import System.Process.ByteString.Lazy (readProcessWithExitCode)
import Web.Scotty

data Proc = Proc { procFuncName :: String, procName :: String, procArgv :: [String] }

runProc :: Proc -> ByteString -> IO (Either ByteString ByteString)
runProc (Proc { procName = name, procArgv = argv }) wb = do
  (code, out, err) <- readProcessWithExitCode name argv wb
  case code of
    ExitSuccess   -> return (Right out)
    ExitFailure _ -> return (Left err)

processHandler :: (String -> Maybe Proc) -> ActionM ()
processHandler getProc = do
  func <- param "func"
  case getProc func of
    Nothing -> status status404 >> raw LB.empty
    Just proc -> do
      wb <- body
      result <- liftIO $ runProc proc wb
      case result of
        Left err  -> status status500 >> raw err
        Right out -> raw out

catProc :: Proc
catProc = Proc { procFuncName = "cat", procName = "cat", procArgv = [] }

getProcByFuncName :: String -> Maybe Proc
getProcByFuncName "cat" = Just catProc
getProcByFuncName _     = Nothing

main :: IO ()
main = do
  args <- getArgs
  let port = case args of (p : _) -> read p; [] -> 3000
      opts = def { settings = setHost "127.0.0.1" (setPort port (settings def)) }
  scottyOpts opts $ post "/function/:func" $ processHandler getProcByFuncName
